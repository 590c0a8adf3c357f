package consensus

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"sync"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// testChain is the chain every test manager decides.
var testChain = base.ChainID(sha256.Sum256([]byte("consensus-test-chain")))

// ownerKey returns the deterministic key of a named chain owner.
func ownerKey(name string) *crypto.PrivateKey { return prototest.Key("owner-" + name) }

// testBlock returns the block named name at height: one user operation carrying the name,
// and a deterministic outcome (what every honest validator computes when executing it).
func testBlock(height base.BlockHeight, name string) *protocol.Block {
	p := protocol.ProposedBlock{
		ChainID:      testChain,
		Height:       height,
		Timestamp:    base.Timestamp(1_000_000 + uint64(height)),
		Transactions: []protocol.Transaction{protocol.OperationTx(protocol.Operation{Bytes: []byte(name)})},
	}
	if height > 0 {
		prev := base.Hash(sha256.Sum256([]byte(fmt.Sprintf("block-%d", height-1))))
		p.PreviousBlockHash = &prev
	}
	return execute(p)
}

// execute is the test "execution": a deterministic outcome per proposed block.
func execute(p protocol.ProposedBlock) *protocol.Block {
	n := len(p.Transactions)
	o := protocol.BlockExecutionOutcome{
		Messages:         make([][]protocol.OutgoingMessage, n),
		StateHash:        sha256.Sum256(codec.Marshal(&p)),
		OracleResponses:  make([][]protocol.OracleResponse, n),
		Events:           make([][]protocol.Event, n),
		Blobs:            make([][]protocol.Blob, n),
		OperationResults: make([][]byte, n),
	}
	for i := range o.OperationResults {
		o.OperationResults[i] = []byte{}
	}
	return protocol.NewBlock(p, o)
}

// executeProposal is what the worker does before VoteForProposal: execute the proposed
// block, or, for a regular retry, rebuild it from the carried outcome.
func executeProposal(p *protocol.BlockProposal) *protocol.Block {
	if p.IsRegularRetry() && p.Content.Outcome != nil {
		return protocol.NewBlock(p.Content.Block, *p.Content.Outcome)
	}
	return execute(p.Content.Block)
}

// memoSigner signs with a real key and memoizes the (deterministic) signatures, so that
// simulations running thousands of schedules over the same few values stay fast.
type memoSigner struct {
	key *crypto.PrivateKey
	mu  sync.Mutex
	sig map[base.Hash]crypto.Signature
}

func newMemoSigner(k *crypto.PrivateKey) *memoSigner {
	return &memoSigner{key: k, sig: make(map[base.Hash]crypto.Signature)}
}

func (s *memoSigner) Public() crypto.PublicKey { return s.key.Public() }

func (s *memoSigner) Sign(msg base.Hash) (crypto.Signature, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sig, ok := s.sig[msg]; ok {
		return sig, nil
	}
	sig, err := s.key.Sign(msg)
	if err != nil {
		return crypto.Signature{}, err
	}
	s.sig[msg] = sig
	return sig, nil
}

// roundTripManager encodes m, decodes it into a fresh manager (keeping the disabled
// rules), and checks that the bytes and the reported info are identical. It returns the
// decoded manager, so callers can continue from the persisted state as a restarted
// validator would.
func roundTripManager(m *Manager) (*Manager, []byte, error) {
	b := codec.Marshal(m)
	d := &Manager{disabled: m.disabled}
	if err := codec.Unmarshal(b, d); err != nil {
		return nil, b, fmt.Errorf("decode own encoding: %w", err)
	}
	if again := codec.Marshal(d); !bytes.Equal(b, again) {
		return nil, b, fmt.Errorf("re-encoding differs")
	}
	i1, i2 := m.Info(true), d.Info(true)
	if !bytes.Equal(codec.Marshal(&i1), codec.Marshal(&i2)) {
		return nil, b, fmt.Errorf("info differs after decoding")
	}
	return d, b, nil
}
