package nodeservice

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
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

// blockView renders a confirmed block with its certificate.
func blockView(cert *protocol.Certificate) Block {
	b := cert.Block
	v := Block{
		ChainID:          b.ChainID().String(),
		Height:           int64(b.Height()),
		Hash:             b.Hash().String(),
		PreviousHash:     hashp(b.Proposed.PreviousBlockHash),
		Timestamp:        int64(b.Proposed.Timestamp),
		Epoch:            int64(b.Epoch()),
		Round:            cert.Round.String(),
		Operations:       []OperationView{},
		IncomingBundles:  []IncomingBundleView{},
		OutgoingMessages: []MessageView{},
		Events:           []EventView{},
		Certificate: &CertificateView{
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
			ib := IncomingBundleView{Origin: tx.Bundle.Origin.String(), Height: int64(tx.Bundle.Bundle.Height), Action: actionName(tx.Bundle.Action), Messages: []MessageView{}}
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
			ev := EventView{StreamName: streamName(e.Stream.Name), Index: int64(e.Index), ValueBase64: base64.StdEncoding.EncodeToString(e.Value)}
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

// appJSON returns application bytes as a JSON value when they are JSON (what Mica's SDK
// encodes), else nil.
func appJSON(b []byte) JSON {
	if len(b) == 0 || len(b) > maxInlineJSON || !json.Valid(b) {
		return nil
	}
	return JSON(b)
}

func operationView(i int, op *protocol.Operation) OperationView {
	v := OperationView{Index: i}
	if op.System == nil {
		v.Kind = "User"
		v.ApplicationID = strp(op.App.String())
		v.Summary = fmt.Sprintf("application %s operation (%d bytes)", op.App.String()[:8], len(op.Bytes))
		v.JSON = appJSON(op.Bytes)
		return v
	}
	v.Kind, v.Summary, v.JSON = systemOperation(op.System)
	return v
}

func mustJSON(v any) JSON {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// systemOperation names a system operation, summarises it and gives its fields as JSON.
func systemOperation(op protocol.SystemOperation) (kind, summary string, js JSON) {
	switch o := op.(type) {
	case *protocol.Transfer:
		return "Transfer", fmt.Sprintf("transfer %s from %s to %s", o.Amount, o.Owner, o.Recipient),
			mustJSON(map[string]string{"owner": o.Owner.String(), "recipient": o.Recipient.String(), "amount": o.Amount.String()})
	case *protocol.Claim:
		return "Claim", fmt.Sprintf("claim %s of %s on %s for %s", o.Amount, o.Owner, o.Target.Short(), o.Recipient),
			mustJSON(map[string]string{"owner": o.Owner.String(), "target": o.Target.String(), "recipient": o.Recipient.String(), "amount": o.Amount.String()})
	case *protocol.OpenChain:
		return "OpenChain", fmt.Sprintf("open a chain with %s", o.Balance), mustJSON(map[string]any{"balance": o.Balance.String(), "ownership": ownershipJSON(&o.Ownership)})
	case *protocol.CloseChain:
		return "CloseChain", "close the chain", nil
	case *protocol.ChangeOwnership:
		return "ChangeOwnership", "change the chain's owners", mustJSON(map[string]any{"ownership": ownershipJSON(&o.Ownership)})
	case *protocol.PublishModule:
		return "PublishModule", "publish module " + o.Module.String(), mustJSON(map[string]string{"moduleId": o.Module.String()})
	case *protocol.PublishDataBlob:
		return "PublishDataBlob", "publish data blob " + o.Hash.Short(), mustJSON(map[string]string{"hash": o.Hash.String()})
	case *protocol.CreateApplication:
		return "CreateApplication", "create an application of module " + o.Module.String(),
			mustJSON(map[string]any{"moduleId": o.Module.String(), "parameters": appJSON(o.Parameters), "argument": appJSON(o.Argument)})
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

func messageView(dest *base.ChainID, kind protocol.MessageKind, m *protocol.Message) MessageView {
	v := MessageView{Kind: kind.String()}
	if dest != nil {
		v.Destination = strp(dest.String())
	}
	if m.System == nil {
		v.ApplicationID = strp(m.App.String())
		v.Summary = fmt.Sprintf("application %s message (%d bytes)", m.App.String()[:8], len(m.Bytes))
		v.JSON = appJSON(m.Bytes)
		return v
	}
	switch o := m.System.(type) {
	case *protocol.Credit:
		v.Summary = fmt.Sprintf("credit %s to %s", o.Amount, o.Target)
		v.JSON = mustJSON(map[string]string{"type": "Credit", "target": o.Target.String(), "amount": o.Amount.String(), "source": o.Source.String()})
	case *protocol.Withdraw:
		v.Summary = fmt.Sprintf("withdraw %s of %s for %s", o.Amount, o.Owner, o.Recipient)
		v.JSON = mustJSON(map[string]string{"type": "Withdraw", "owner": o.Owner.String(), "amount": o.Amount.String(), "recipient": o.Recipient.String()})
	default:
		v.Summary = strings.TrimPrefix(fmt.Sprintf("%T", o), "*protocol.")
	}
	return v
}

// ownershipView renders a chain's ownership.
func ownershipView(o *protocol.ChainOwnership) *Ownership {
	v := &Ownership{SuperOwners: []string{}, Owners: []OwnerWeight{}, MultiLeaderRounds: int(o.MultiLeaderRounds), Open: o.OpenMultiLeaderRounds}
	for _, s := range o.SuperOwners {
		v.SuperOwners = append(v.SuperOwners, s.String())
	}
	for _, w := range o.Owners {
		v.Owners = append(v.Owners, OwnerWeight{Owner: w.Owner.String(), Weight: int64(w.Weight)})
	}
	return v
}

// bundleSummary summarises an incoming bundle (its system messages spelled out).
func bundleSummary(b *protocol.IncomingBundle) string {
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
