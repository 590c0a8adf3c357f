// Package prototest builds protocol fixtures for tests: deterministic keys, committees,
// genesis configurations, blocks and genuine certificates. It is imported only by tests.
package prototest

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
)

// Reader is a deterministic byte stream: SHA-256 of (seed, counter) blocks.
type Reader struct {
	seed    string
	counter uint64
	buf     []byte
}

// NewReader returns a deterministic reader for a seed.
func NewReader(seed string) *Reader { return &Reader{seed: seed} }

func (r *Reader) Read(p []byte) (int, error) {
	for n := 0; n < len(p); {
		if len(r.buf) == 0 {
			var c [8]byte
			binary.LittleEndian.PutUint64(c[:], r.counter)
			r.counter++
			sum := sha256.Sum256(append([]byte(r.seed), c[:]...))
			r.buf = sum[:]
		}
		k := copy(p[n:], r.buf)
		r.buf = r.buf[k:]
		n += k
	}
	return len(p), nil
}

// Key returns a deterministic Ed25519 key for a name.
func Key(name string) *crypto.PrivateKey {
	k, err := crypto.GenerateKey(crypto.Ed25519, NewReader("key:"+name))
	if err != nil {
		panic(fmt.Sprintf("prototest: generate key: %v", err)) // test fixture: cannot fail with a working reader
	}
	return k
}

// Validators returns n deterministic validator keys, sorted by public key.
func Validators(n int) []*crypto.PrivateKey {
	keys := make([]*crypto.PrivateKey, n)
	for i := range keys {
		keys[i] = Key(fmt.Sprintf("validator-%d", i))
	}
	sortKeys(keys)
	return keys
}

func sortKeys(keys []*crypto.PrivateKey) {
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j].Public().Compare(keys[j-1].Public()) < 0; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
}

// Committee returns an equal-weight committee of the keys with the no-fees policy.
func Committee(keys []*crypto.PrivateKey) *protocol.Committee {
	vs := make([]protocol.ValidatorState, len(keys))
	for i, k := range keys {
		vs[i] = protocol.ValidatorState{PublicKey: k.Public(), NetworkAddress: fmt.Sprintf("127.0.0.1:%d", 13001+i), Votes: 1}
	}
	c, err := protocol.NewCommittee(vs, protocol.NoFeesPolicy())
	if err != nil {
		panic(fmt.Sprintf("prototest: committee: %v", err))
	}
	return c
}

// Genesis returns a genesis configuration whose root chain i is owned (as super owner)
// by owners[i] with the given balance.
func Genesis(committee *protocol.Committee, owners []*crypto.PrivateKey, balance base.Amount) *protocol.GenesisConfig {
	g := &protocol.GenesisConfig{NetworkName: "test", Timestamp: 1_000_000, Committee: *committee}
	for _, o := range owners {
		g.Chains = append(g.Chains, protocol.GenesisChain{Ownership: protocol.SingleSuperOwner(o.Public().Owner()), Balance: balance})
	}
	return g
}

// Certify builds a certificate of the given kind on a block (or a timeout) signed by the
// keys.
func Certify(kind protocol.CertificateKind, block *protocol.Block, timeout *protocol.Timeout, round base.Round, keys []*crypto.PrivateKey) *protocol.Certificate {
	c := &protocol.Certificate{Kind: kind, Block: block, Timeout: timeout, Round: round}
	lv := c.LiteValue()
	votes := make([]protocol.Vote, len(keys))
	for i, k := range keys {
		v, err := protocol.SignVote(k, lv, round)
		if err != nil {
			panic(fmt.Sprintf("prototest: sign vote: %v", err))
		}
		votes[i] = v
	}
	return protocol.CertificateFromVotes(kind, block, timeout, round, votes)
}

// TransferBlock returns a block of n transfers from the chain account of chain to
// recipient, with a plausible outcome (one Credit message each when recipient differs).
func TransferBlock(chain base.ChainID, height base.BlockHeight, prev *base.Hash, signer base.Owner, recipient base.Account, n int) *protocol.Block {
	p := protocol.ProposedBlock{ChainID: chain, Height: height, Timestamp: base.Timestamp(2_000_000 + uint64(height)), PreviousBlockHash: prev, AuthenticatedOwner: &signer}
	var o protocol.BlockExecutionOutcome
	for i := 0; i < n; i++ {
		p.Transactions = append(p.Transactions, protocol.SystemTx(&protocol.Transfer{Owner: base.ChainOwner, Recipient: recipient, Amount: base.Tokens(1)}))
		var msgs []protocol.OutgoingMessage
		if recipient.Chain != chain {
			msgs = append(msgs, protocol.OutgoingMessage{Destination: recipient.Chain, Kind: protocol.Tracked, Message: protocol.Message{System: &protocol.Credit{Target: recipient.Owner, Amount: base.Tokens(1)}}})
		}
		o.Messages = append(o.Messages, msgs)
		o.OracleResponses = append(o.OracleResponses, nil)
		o.Events = append(o.Events, nil)
		o.Blobs = append(o.Blobs, nil)
		o.OperationResults = append(o.OperationResults, []byte{})
	}
	return protocol.NewBlock(p, o)
}
