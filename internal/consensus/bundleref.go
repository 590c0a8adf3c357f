package consensus

import (
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
)

// Bundles is what the register's encoding needs of the store it is written to: the
// confirmed certificates the chain received bundles from. The consensus package reads no
// storage; the chain's state implements it over its store.
type Bundles interface {
	// Held reports whether b, received from origin, is for good on the store: the
	// certificate of its sending block is there (certificates are never removed, and it
	// is durable no later than the register, which is written after it) and Resolve
	// returns b, byte for byte, for its reference. When in doubt, false: b is then
	// stored inline.
	Held(origin base.ChainID, b *protocol.MessageBundle) bool
	// Resolve returns the bundle origin's block at height, of hash cert and timestamp
	// timestamp, sends to the chain at its transaction index. A reference that the
	// store cannot resolve is an error.
	Resolve(origin base.ChainID, height base.BlockHeight, timestamp base.Timestamp, cert base.Hash, index uint32) (protocol.MessageBundle, error)
}

// Entries of a version 4 proposal's transactions.
const (
	// txInline: one transaction, its canonical bytes.
	txInline uint32 = iota
	// txReferences: consecutive received bundles of one sending block, by reference.
	txReferences
	numTxTags
)

// encodeProposal writes the proposal voted on in version 4: its canonical encoding with
// no transactions, then its transactions as entries
//
//	Length(entries) || entries (enum: Inline(transaction) | References(origin ||
//	height u64 || timestamp u64 || certificate hash || Length(k) || k × (transaction
//	index u32 || action)))
//
// where each maximal run of consecutive received bundles that bundles holds, of one
// sending block (origin, height, timestamp, certificate) and in increasing transaction
// index, is one References entry. A 100-transfer block receiving its bundles from one
// sending block stores ~5 bytes per bundle instead of ~130.
func encodeProposal(w *codec.Writer, p *protocol.BlockProposal, bundles Bundles) {
	txs := p.Content.Block.Transactions
	header := *p
	header.Content.Block.Transactions = nil
	header.Encode(w)
	// held[i]: transaction i is a bundle stored by reference.
	var held []bool
	if bundles != nil {
		for i := range txs {
			if b := txs[i].Bundle; b != nil && bundles.Held(b.Origin, &b.Bundle) {
				if held == nil {
					held = make([]bool, len(txs))
				}
				held[i] = true
			}
		}
	}
	if held == nil {
		w.Length(len(txs))
		for i := range txs {
			w.Tag(txInline)
			txs[i].Encode(w)
		}
		return
	}
	runEnd := func(i int) int { // the end of the run of references starting at i
		j := i + 1
		for j < len(txs) && held[j] && sameSendingBlock(txs[j-1].Bundle, txs[j].Bundle) {
			j++
		}
		return j
	}
	entries := 0
	for i := 0; i < len(txs); entries++ {
		if held[i] {
			i = runEnd(i)
		} else {
			i++
		}
	}
	w.Length(entries)
	for i := 0; i < len(txs); {
		if !held[i] {
			w.Tag(txInline)
			txs[i].Encode(w)
			i++
			continue
		}
		j := runEnd(i)
		first := txs[i].Bundle
		w.Tag(txReferences)
		w.Hash(base.Hash(first.Origin))
		w.U64(uint64(first.Bundle.Height))
		w.U64(uint64(first.Bundle.Timestamp))
		w.Hash(first.Bundle.CertificateHash)
		w.Length(j - i)
		for ; i < j; i++ {
			b := txs[i].Bundle
			w.U32(b.Bundle.TransactionIndex)
			w.Tag(uint32(b.Action))
		}
	}
}

// sameSendingBlock reports whether b follows a in a run of references: the same
// sending block, a later transaction.
func sameSendingBlock(a, b *protocol.IncomingBundle) bool {
	return a.Origin == b.Origin && a.Bundle.Height == b.Bundle.Height && a.Bundle.Timestamp == b.Bundle.Timestamp &&
		a.Bundle.CertificateHash == b.Bundle.CertificateHash && a.Bundle.TransactionIndex < b.Bundle.TransactionIndex
}

// decodeProposal reads a proposal written by encodeProposal, resolving its references
// with bundles. Strict decoding (stored false) takes no references: Encode writes none.
// A stored proposal's signature is checked after (checkStoredProposal).
func decodeProposal(r *codec.Reader, stored bool, bundles Bundles) *protocol.BlockProposal {
	p := new(protocol.BlockProposal)
	p.Decode(r)
	if r.Err() != nil {
		return p
	}
	if len(p.Content.Block.Transactions) != 0 {
		r.Fail("consensus manager: proposal with transactions before its entries")
		return p
	}
	// An entry is at least its tag and a transaction's tag and one byte.
	n := r.Length(3)
	var txs []protocol.Transaction
	for e := 0; e < n && r.Err() == nil; e++ {
		if r.Tag(numTxTags) == txInline {
			var t protocol.Transaction
			t.Decode(r)
			txs = append(txs, t)
			continue
		}
		origin := r.ChainID()
		height := base.BlockHeight(r.U64())
		timestamp := base.Timestamp(r.U64())
		cert := r.Hash()
		k := r.Length(4 + 1)
		if r.Err() != nil {
			break
		}
		switch {
		case !stored:
			r.Fail("consensus manager: bundle stored by reference in a strict encoding")
		case bundles == nil:
			r.Fail("consensus manager: bundle stored by reference, and no certificates to resolve it")
		case k == 0:
			r.Fail("consensus manager: empty run of bundle references")
		}
		last := uint32(0)
		for i := 0; i < k && r.Err() == nil; i++ {
			index := r.U32()
			action := protocol.BundleAction(r.Tag(2))
			if r.Err() != nil {
				break
			}
			if i > 0 && index <= last {
				r.Fail("consensus manager: bundle references not in increasing transaction index")
				break
			}
			last = index
			b, err := bundles.Resolve(origin, height, timestamp, cert, index)
			if err != nil {
				r.Fail("consensus manager: bundle from %s at height %d, transaction %d: %v", origin.Short(), height, index, err)
				break
			}
			if b.Height != height || b.Timestamp != timestamp || b.CertificateHash != cert || b.TransactionIndex != index {
				r.Fail("consensus manager: bundle from %s at height %d, transaction %d resolved to another bundle", origin.Short(), height, index)
				break
			}
			txs = append(txs, protocol.ReceiveTx(protocol.IncomingBundle{Origin: origin, Bundle: b, Action: action}))
		}
	}
	if r.Err() != nil {
		return p
	}
	p.Content.Block.Transactions = txs
	return p
}

// checkStoredProposal fails r unless p, read from a store, carries a valid signature
// of its content if it receives a bundle: a bundle resolved from a reference is then
// the one voted on, and a proposal with inline bundles, which a later write may store
// by reference, is one that loads again then.
func checkStoredProposal(r *codec.Reader, p *protocol.BlockProposal) {
	if r.Err() != nil || p == nil {
		return
	}
	for i := range p.Content.Block.Transactions {
		if p.Content.Block.Transactions[i].Bundle != nil {
			if err := crypto.Verify(p.PublicKey, p.Content.SigningHash(), p.Signature); err != nil {
				r.Fail("consensus manager: stored proposal receiving bundles is not the one signed: %v", err)
			}
			return
		}
	}
}
