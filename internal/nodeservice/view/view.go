// Package view renders protocol values (blocks, certificates, notifications, ownership)
// as the models of the node service's system GraphQL schema (../schema.graphqls, package
// gql). The node service answers with them and the CLI prints them under --json, so
// both speak the one schema: the same field names and shapes. Pure functions, safe for
// concurrent use.
package view

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/nodeservice/gql"
	"github.com/micachain/mica/internal/protocol"
)

// maxInlineJSON bounds the bytes of an application operation or message shown as JSON in
// a block view (larger ones are summarised only).
const maxInlineJSON = 64 << 10

func strp(s string) *string { return &s }

func hashp(h *base.Hash) *string {
	if h == nil {
		return nil
	}
	return strp(h.String())
}

// Block renders a confirmed block with its certificate: the schema's Block.
func Block(cert *protocol.Certificate) gql.Block {
	b := cert.Block
	v := gql.Block{
		ChainID:          b.ChainID().String(),
		Height:           int64(b.Height()),
		Hash:             b.Hash().String(),
		PreviousHash:     hashp(b.Proposed.PreviousBlockHash),
		Timestamp:        int64(b.Proposed.Timestamp),
		Epoch:            int64(b.Epoch()),
		Round:            cert.Round.String(),
		Operations:       []gql.OperationView{},
		IncomingBundles:  []gql.IncomingBundleView{},
		OutgoingMessages: []gql.MessageView{},
		Events:           []gql.EventView{},
		Certificate: &gql.CertificateView{
			Hash:       b.Hash().String(),
			Kind:       cert.Kind.String(),
			Round:      cert.Round.String(),
			Signatures: len(cert.Signatures),
			Base64:     base64.StdEncoding.EncodeToString(codec.Marshal(cert)),
		},
	}
	if o := b.Proposed.AuthenticatedOwner; o != nil {
		v.AuthenticatedOwner = strp(o.String())
	}
	for i, tx := range b.Proposed.Transactions {
		switch {
		case tx.Operation != nil:
			v.Operations = append(v.Operations, operationView(i, tx.Operation))
		case tx.Bundle != nil:
			ib := gql.IncomingBundleView{Origin: tx.Bundle.Origin.String(), Height: int64(tx.Bundle.Bundle.Height), Action: actionName(tx.Bundle.Action), Messages: []gql.MessageView{}}
			for j := range tx.Bundle.Bundle.Messages {
				pm := &tx.Bundle.Bundle.Messages[j]
				ib.Messages = append(ib.Messages, messageView(nil, pm.Kind, &pm.Message))
			}
			v.IncomingBundles = append(v.IncomingBundles, ib)
		}
	}
	for _, ms := range b.Outcome.Messages {
		for j := range ms {
			m := &ms[j]
			d := m.Destination
			v.OutgoingMessages = append(v.OutgoingMessages, messageView(&d, m.Kind, &m.Message))
		}
	}
	for _, es := range b.Outcome.Events {
		for _, e := range es {
			ev := gql.EventView{StreamName: streamName(e.Stream.Name), Index: int64(e.Index), ValueBase64: base64.StdEncoding.EncodeToString(e.Value)}
			if e.Stream.App != nil {
				ev.StreamApplication = strp(e.Stream.App.String())
			}
			v.Events = append(v.Events, ev)
		}
	}
	return v
}

func actionName(a protocol.BundleAction) string {
	if a == protocol.Reject {
		return "REJECT"
	}
	return "ACCEPT"
}

// streamName is a stream's name as text when it is printable UTF-8, else "0x" + hex.
func streamName(b []byte) string {
	if utf8.Valid(b) && !strings.ContainsFunc(string(b), func(r rune) bool { return r < 0x20 }) {
		return string(b)
	}
	return fmt.Sprintf("0x%x", b)
}

// AppJSON returns application bytes as a JSON value when they are JSON (what Mica's SDK
// encodes), else nil.
func AppJSON(b []byte) gql.JSON {
	if len(b) == 0 || len(b) > maxInlineJSON || !json.Valid(b) {
		return nil
	}
	return gql.JSON(b)
}

func operationView(i int, op *protocol.Operation) gql.OperationView {
	v := gql.OperationView{Index: i}
	if op.System == nil {
		v.Kind = "User"
		v.ApplicationID = strp(op.App.String())
		v.Summary = fmt.Sprintf("application %s operation (%d bytes)", op.App.String()[:8], len(op.Bytes))
		v.JSON = AppJSON(op.Bytes)
		return v
	}
	v.Kind, v.Summary, v.JSON = systemOperation(op.System)
	return v
}

// MustJSON encodes v, or returns nil (JSON null) if it cannot be encoded.
func MustJSON(v any) gql.JSON {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// systemOperation names a system operation, summarises it and gives its fields as JSON.
func systemOperation(op protocol.SystemOperation) (kind, summary string, js gql.JSON) {
	switch o := op.(type) {
	case *protocol.Transfer:
		return "Transfer", fmt.Sprintf("transfer %s from %s to %s", o.Amount, o.Owner, o.Recipient),
			MustJSON(map[string]string{"owner": o.Owner.String(), "recipient": o.Recipient.String(), "amount": o.Amount.String()})
	case *protocol.Claim:
		return "Claim", fmt.Sprintf("claim %s of %s on %s for %s", o.Amount, o.Owner, o.Target.Short(), o.Recipient),
			MustJSON(map[string]string{"owner": o.Owner.String(), "target": o.Target.String(), "recipient": o.Recipient.String(), "amount": o.Amount.String()})
	case *protocol.OpenChain:
		return "OpenChain", fmt.Sprintf("open a chain with %s", o.Balance), MustJSON(map[string]any{"balance": o.Balance.String(), "ownership": ownershipJSON(&o.Ownership)})
	case *protocol.CloseChain:
		return "CloseChain", "close the chain", nil
	case *protocol.ChangeOwnership:
		return "ChangeOwnership", "change the chain's owners", MustJSON(map[string]any{"ownership": ownershipJSON(&o.Ownership)})
	case *protocol.PublishModule:
		return "PublishModule", "publish module " + o.Module.String(), MustJSON(map[string]string{"moduleId": o.Module.String()})
	case *protocol.PublishDataBlob:
		return "PublishDataBlob", "publish data blob " + o.Hash.Short(), MustJSON(map[string]string{"hash": o.Hash.String()})
	case *protocol.CreateApplication:
		return "CreateApplication", "create an application of module " + o.Module.String(),
			MustJSON(map[string]any{"moduleId": o.Module.String(), "parameters": AppJSON(o.Parameters), "argument": AppJSON(o.Argument)})
	}
	name := strings.TrimPrefix(fmt.Sprintf("%T", op), "*protocol.")
	return name, name, nil
}

func ownershipJSON(o *protocol.ChainOwnership) map[string]any {
	supers := []string{}
	for _, s := range o.SuperOwners {
		supers = append(supers, s.String())
	}
	owners := []map[string]any{}
	for _, w := range o.Owners {
		owners = append(owners, map[string]any{"owner": w.Owner.String(), "weight": w.Weight})
	}
	return map[string]any{"superOwners": supers, "owners": owners, "multiLeaderRounds": o.MultiLeaderRounds, "open": o.OpenMultiLeaderRounds}
}

func messageView(dest *base.ChainID, kind protocol.MessageKind, m *protocol.Message) gql.MessageView {
	v := gql.MessageView{Kind: kind.String()}
	if dest != nil {
		v.Destination = strp(dest.String())
	}
	if m.System == nil {
		v.ApplicationID = strp(m.App.String())
		v.Summary = fmt.Sprintf("application %s message (%d bytes)", m.App.String()[:8], len(m.Bytes))
		v.JSON = AppJSON(m.Bytes)
		return v
	}
	switch o := m.System.(type) {
	case *protocol.Credit:
		v.Summary = fmt.Sprintf("credit %s to %s", o.Amount, o.Target)
		v.JSON = MustJSON(map[string]string{"type": "Credit", "target": o.Target.String(), "amount": o.Amount.String(), "source": o.Source.String()})
	case *protocol.Withdraw:
		v.Summary = fmt.Sprintf("withdraw %s of %s for %s", o.Amount, o.Owner, o.Recipient)
		v.JSON = MustJSON(map[string]string{"type": "Withdraw", "owner": o.Owner.String(), "amount": o.Amount.String(), "recipient": o.Recipient.String()})
	default:
		v.Summary = strings.TrimPrefix(fmt.Sprintf("%T", o), "*protocol.")
	}
	return v
}

// Ownership renders a chain's ownership.
func Ownership(o *protocol.ChainOwnership) *gql.Ownership {
	v := &gql.Ownership{SuperOwners: []string{}, Owners: []gql.OwnerWeight{}, MultiLeaderRounds: int(o.MultiLeaderRounds), Open: o.OpenMultiLeaderRounds}
	for _, s := range o.SuperOwners {
		v.SuperOwners = append(v.SuperOwners, s.String())
	}
	for _, w := range o.Owners {
		v.Owners = append(v.Owners, gql.OwnerWeight{Owner: w.Owner.String(), Weight: int64(w.Weight)})
	}
	return v
}

// BundleSummary summarises an incoming bundle (its system messages spelled out).
func BundleSummary(b *protocol.IncomingBundle) string {
	var parts []string
	for i := range b.Bundle.Messages {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(b.Bundle.Messages)-3))
			break
		}
		m := &b.Bundle.Messages[i]
		parts = append(parts, messageView(nil, m.Kind, &m.Message).Summary)
	}
	return strings.Join(parts, "; ")
}

// BlockResult is what a mutation that committed a block returns: the block's chain,
// height and hash.
func BlockResult(cert *protocol.Certificate) *gql.BlockResult {
	return &gql.BlockResult{ChainID: cert.ChainID().String(), Height: int64(cert.Height()), Hash: cert.ValueHash().String()}
}

// NotificationKind is the schema's name of a notification kind ("NEW_BLOCK", ...).
func NotificationKind(k protocol.ReasonKind) string {
	switch k {
	case protocol.ReasonNewBlock:
		return "NEW_BLOCK"
	case protocol.ReasonNewIncomingBundle:
		return "NEW_INCOMING_BUNDLE"
	case protocol.ReasonNewRound:
		return "NEW_ROUND"
	case protocol.ReasonNewEvents:
		return "NEW_EVENTS"
	}
	return "UNKNOWN"
}

// Notification renders a validator's or the local replica's notification.
func Notification(n protocol.Notification) *gql.Notification {
	v := &gql.Notification{ChainID: n.ChainID.String(), Kind: NotificationKind(n.Kind), Height: int64(n.Height)}
	switch n.Kind {
	case protocol.ReasonNewBlock:
		v.Hash = strp(n.Hash.String())
	case protocol.ReasonNewIncomingBundle:
		v.Origin = strp(n.Origin.String())
	case protocol.ReasonNewRound:
		v.Round = strp(n.Round.String())
	}
	return v
}
