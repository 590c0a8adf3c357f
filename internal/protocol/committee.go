package protocol

import (
	"math"
	"slices"
	"strings"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
)

// ValidatorState is one committee member.
type ValidatorState struct {
	// PublicKey signs votes.
	PublicKey crypto.PublicKey
	// NetworkAddress is where clients reach the validator (its proxy), e.g. "127.0.0.1:13001".
	NetworkAddress string
	Votes          uint64
}

// Committee is the validator set of an epoch and the resource policy it enforces.
//
// Invariant: Validators is strictly sorted by public key, every weight is positive, and
// the total weight does not overflow.
type Committee struct {
	Validators []ValidatorState
	Policy     ResourcePolicy
}

// NewCommittee sorts the validators and checks the invariant.
func NewCommittee(vs []ValidatorState, policy ResourcePolicy) (*Committee, error) {
	c := &Committee{Validators: slices.Clone(vs), Policy: policy}
	slices.SortFunc(c.Validators, func(a, b ValidatorState) int { return a.PublicKey.Compare(b.PublicKey) })
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks the invariant.
func (c *Committee) Validate() error {
	if len(c.Validators) == 0 {
		return base.Invalidf("committee has no validators")
	}
	var total uint64
	for i, v := range c.Validators {
		if i > 0 && c.Validators[i-1].PublicKey.Compare(v.PublicKey) >= 0 {
			return base.Invalidf("committee validators must be sorted and distinct")
		}
		if v.Votes == 0 {
			return base.Invalidf("validator %s has zero votes", v.PublicKey)
		}
		if total > math.MaxUint64-v.Votes {
			return base.Invalidf("committee total votes overflow")
		}
		total += v.Votes
	}
	return nil
}

// TotalVotes is N, the sum of the weights.
func (c *Committee) TotalVotes() uint64 {
	var n uint64
	for _, v := range c.Validators {
		n += v.Votes
	}
	return n
}

// MaxFaulty is f = ⌊(N−1)/3⌋, the faulty weight tolerated.
func (c *Committee) MaxFaulty() uint64 {
	n := c.TotalVotes()
	if n == 0 {
		return 0
	}
	return (n - 1) / 3
}

// QuorumThreshold is N − f: 3 of 4, 5 of 7.
func (c *Committee) QuorumThreshold() uint64 { return c.TotalVotes() - c.MaxFaulty() }

// ValidityThreshold is f + 1: any set this heavy holds an honest validator.
func (c *Committee) ValidityThreshold() uint64 { return c.MaxFaulty() + 1 }

// Weight returns the votes of pk, or 0 if it is not a member.
func (c *Committee) Weight(pk crypto.PublicKey) uint64 {
	i, ok := slices.BinarySearchFunc(c.Validators, pk, func(v ValidatorState, k crypto.PublicKey) int { return v.PublicKey.Compare(k) })
	if !ok {
		return 0
	}
	return c.Validators[i].Votes
}

// Hash returns the hash of the committee blob, the name by which chains refer to it.
func (c *Committee) Hash() base.Hash { b := c.Blob(); return b.ID().Hash }

// Blob returns the committee blob.
func (c *Committee) Blob() Blob { return NewBlob(base.BlobCommittee, codec.Marshal(c)) }

func (c *Committee) Encode(w *codec.Writer) {
	codec.EncodeSlice(w, c.Validators, func(w *codec.Writer, v *ValidatorState) {
		v.PublicKey.Encode(w)
		w.String(v.NetworkAddress)
		w.U64(v.Votes)
	})
	c.Policy.Encode(w)
}

func (c *Committee) Decode(r *codec.Reader) {
	c.Validators = codec.DecodeSlice(r, 10, func(r *codec.Reader, v *ValidatorState) {
		// Checked in full: a committee is kept, and a member whose key is no usable
		// point could never vote.
		v.PublicKey = crypto.DecodeValidPublicKey(r)
		v.NetworkAddress = r.String()
		v.Votes = r.U64()
	})
	c.Policy.Decode(r)
	if r.Err() == nil {
		if err := c.Validate(); err != nil {
			r.Fail("%v", err)
		}
	}
}

// ResourcePolicy prices and bounds execution. The zero prices of NoFeesPolicy are the
// default: fees are off unless a committee turns them on.
type ResourcePolicy struct {
	// Prices, in attos.
	FuelUnit      base.Amount // per unit of Wasm fuel
	Operation     base.Amount // per operation
	OperationByte base.Amount // per byte of operation payload
	Message       base.Amount // per outgoing message
	MessageByte   base.Amount // per byte of outgoing message payload
	ByteWritten   base.Amount // per byte written to storage
	BlobByte      base.Amount // per byte of published blob
	// HTTPRequest is charged per HTTP request a contract makes (an OracleHTTP response).
	HTTPRequest base.Amount
	// ServiceAsOracleQuery is charged per service query a contract makes (an
	// OracleService response).
	ServiceAsOracleQuery base.Amount

	// Limits.
	MaxFuelPerBlock      uint64
	MaxBlockSize         uint64 // proposal bytes
	MaxBlobSize          uint64
	MaxPublishedBlobs    uint64
	MaxBytecodeSize      uint64
	MaxTransactionsBlock uint64
	// MaxBlockOutcomeBytes bounds the canonical encoding of a block's execution
	// outcome (BlockExecutionOutcome: outgoing messages, oracle responses, events,
	// created blobs, operation results), so that a certificate is at most about
	// MaxBlockSize + MaxBlockOutcomeBytes plus its signatures. Checked during execution
	// (chain.ErrOutcomeTooLarge), on validators and on the client that stages a block.
	MaxBlockOutcomeBytes uint64
	// MaxHTTPResponseBytes bounds the body of an HTTP response (contracts and services).
	MaxHTTPResponseBytes uint64
	// MaxOracleResponseBytes bounds the payload of a recorded oracle response (HTTP
	// body, service answer).
	MaxOracleResponseBytes uint64
	// HTTPRequestTimeoutMs bounds the wall time of one HTTP request.
	HTTPRequestTimeoutMs uint64
	// MaxServiceOracleMs bounds the wall time of the service queries the contracts of
	// one block make (service as oracle), together.
	MaxServiceOracleMs uint64

	// HTTPAllowList holds the host names (lower case, without port) that applications
	// may send HTTP requests to; empty means no HTTP at all.
	//
	// Invariant: sorted, distinct, each a valid host name of at most MaxHostNameLen
	// bytes, at most MaxHTTPAllowList entries (Decode and NormalizeAllowList check it).
	HTTPAllowList []string
}

// Bounds of ResourcePolicy.HTTPAllowList.
const (
	MaxHTTPAllowList = 256
	MaxHostNameLen   = 253
)

// NormalizeAllowList lower-cases, sorts and de-duplicates host names, and checks each
// (no scheme, path or port: "example.com", "127.0.0.1").
func NormalizeAllowList(hosts []string) ([]string, error) {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" {
			continue
		}
		if err := checkHostName(h); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	if len(out) == 0 {
		return nil, nil
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > MaxHTTPAllowList {
		return nil, base.Invalidf("HTTP allow-list has %d hosts, at most %d", len(out), MaxHTTPAllowList)
	}
	return out, nil
}

func checkHostName(h string) error {
	if len(h) == 0 || len(h) > MaxHostNameLen {
		return base.Invalidf("HTTP allow-list host name of %d bytes", len(h))
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return base.Invalidf("HTTP allow-list host %q: only lower-case letters, digits, '-' and '.' (no scheme, port or path)", h)
		}
	}
	return nil
}

// AllowsHost reports whether host (lower case, without port) is on the allow-list.
func (p *ResourcePolicy) AllowsHost(host string) bool {
	_, ok := slices.BinarySearch(p.HTTPAllowList, strings.ToLower(host))
	return ok
}

// DefaultMaxBytecodeSize is NoFeesPolicy's MaxBytecodeSize: the largest bytecode blob
// the network delivers under the default limits. A module publishes two bytecode blobs,
// which a client carries in its proposal, checked whole against MaxBlockSize (16 MiB):
// two of 7 MiB leave 2 MiB for the block, its signature and the encoding. A validator
// that missed the proposal receives a blob alone, by upload, within the transport's
// budget of MaxBlobSize + 1 MiB (9 MiB): 7 MiB fits. (It was 32 MiB, which neither
// path could carry: past about 9 MiB a lagging validator could not get the blob.)
// CheckDeliverable states the rule for any policy.
const DefaultMaxBytecodeSize = 7 << 20

// NoFeesPolicy is the default: no prices, generous limits.
//
// MaxBlockOutcomeBytes (16 MiB) bounds what executing a block adds to it: a
// certificate is at most MaxBlockSize + MaxBlockOutcomeBytes (32 MiB) and its
// signatures, so an answer carrying one certificate and one proposal (a chain-info
// answer with manager values, ADR 0002) stays under the transport's 64 MiB.
//
// MaxFuelPerBlock bounds the CPU time of a block's contracts: the slowest instrumented
// code measured (wasm BenchmarkFuelRate, an empty loop) burns 1.3e9 to 1.9e9 fuel units
// per second on a core of the (lightly loaded) development VM, so 4e9 units is 2 to 3 s
// of CPU (less for ordinary code, which is faster per unit). A transaction alone is bounded
// further by the VM's own cap (wasm.DefaultFuelPerTransaction, 1e8).
func NoFeesPolicy() ResourcePolicy {
	return ResourcePolicy{
		MaxFuelPerBlock:      4_000_000_000,
		MaxBlockSize:         16 << 20,
		MaxBlobSize:          8 << 20,
		MaxPublishedBlobs:    64,
		MaxBytecodeSize:      DefaultMaxBytecodeSize,
		MaxTransactionsBlock: 10_000,
		MaxBlockOutcomeBytes: 16 << 20,

		MaxHTTPResponseBytes:   64 << 10,
		MaxOracleResponseBytes: 64 << 10,
		HTTPRequestTimeoutMs:   5_000,
		MaxServiceOracleMs:     2_000,
	}
}

// outcomeHeadroom is what a chain-info answer carries besides one certificate's block
// (CheckDeliverable): pending bundles (16 MiB), votes, a timeout certificate and the
// envelope (under 1 MiB for 100 validators), rounded up.
const outcomeHeadroom = 17 << 20

// transportLimit is the transport's message limit (rpc.MaxMessageSize).
const transportLimit = 64 << 20

// CheckDeliverable checks that what the policy admits can travel: a bytecode blob of
// MaxBytecodeSize must fit an upload (MaxBlobSize plus the transport's 1 MiB envelope,
// so MaxBytecodeSize ≤ MaxBlobSize) and, two of them, one proposal (2 × MaxBytecodeSize
// < MaxBlockSize), and a certificate (MaxBlockSize + MaxBlockOutcomeBytes) with the rest
// of a chain-info answer must fit the transport's 64 MiB. Errors are of class
// base.ErrInvalid. Genesis calls it (validator generate); a committee the admin chain
// creates (the CLI's committee commands keep the current policy) or a decoded one is not
// refused for it (the limits are the committee's to choose).
func (p *ResourcePolicy) CheckDeliverable() error {
	if p.MaxBytecodeSize > p.MaxBlobSize {
		return base.Invalidf("policy: MaxBytecodeSize %d exceeds MaxBlobSize %d: a bytecode blob that large cannot be uploaded to a validator that lacks it", p.MaxBytecodeSize, p.MaxBlobSize)
	}
	if p.MaxBytecodeSize > math.MaxUint64/2 || 2*p.MaxBytecodeSize >= p.MaxBlockSize {
		return base.Invalidf("policy: two bytecode blobs of MaxBytecodeSize %d do not fit one proposal of MaxBlockSize %d", p.MaxBytecodeSize, p.MaxBlockSize)
	}
	if p.MaxBlockOutcomeBytes == 0 {
		return base.Invalidf("policy: MaxBlockOutcomeBytes is 0: no block could execute")
	}
	if p.MaxBlockSize > transportLimit || p.MaxBlockOutcomeBytes > transportLimit || p.MaxBlockSize+p.MaxBlockOutcomeBytes > transportLimit-outcomeHeadroom {
		return base.Invalidf("policy: MaxBlockSize %d + MaxBlockOutcomeBytes %d exceed %d: a chain-info answer carrying a certificate would exceed the transport's %d bytes", p.MaxBlockSize, p.MaxBlockOutcomeBytes, transportLimit-outcomeHeadroom, transportLimit)
	}
	return nil
}

// HasFees reports whether any price is non-zero.
func (p *ResourcePolicy) HasFees() bool {
	for _, a := range []base.Amount{p.FuelUnit, p.Operation, p.OperationByte, p.Message, p.MessageByte, p.ByteWritten, p.BlobByte, p.HTTPRequest, p.ServiceAsOracleQuery} {
		if !a.IsZero() {
			return true
		}
	}
	return false
}

func (p *ResourcePolicy) Encode(w *codec.Writer) {
	for _, a := range []base.Amount{p.FuelUnit, p.Operation, p.OperationByte, p.Message, p.MessageByte, p.ByteWritten, p.BlobByte, p.HTTPRequest, p.ServiceAsOracleQuery} {
		w.Amount(a)
	}
	for _, n := range []uint64{p.MaxFuelPerBlock, p.MaxBlockSize, p.MaxBlobSize, p.MaxPublishedBlobs, p.MaxBytecodeSize, p.MaxTransactionsBlock, p.MaxBlockOutcomeBytes,
		p.MaxHTTPResponseBytes, p.MaxOracleResponseBytes, p.HTTPRequestTimeoutMs, p.MaxServiceOracleMs} {
		w.U64(n)
	}
	w.Length(len(p.HTTPAllowList))
	for _, h := range p.HTTPAllowList {
		w.String(h)
	}
}

func (p *ResourcePolicy) Decode(r *codec.Reader) {
	for _, a := range []*base.Amount{&p.FuelUnit, &p.Operation, &p.OperationByte, &p.Message, &p.MessageByte, &p.ByteWritten, &p.BlobByte, &p.HTTPRequest, &p.ServiceAsOracleQuery} {
		*a = r.Amount()
	}
	for _, n := range []*uint64{&p.MaxFuelPerBlock, &p.MaxBlockSize, &p.MaxBlobSize, &p.MaxPublishedBlobs, &p.MaxBytecodeSize, &p.MaxTransactionsBlock, &p.MaxBlockOutcomeBytes,
		&p.MaxHTTPResponseBytes, &p.MaxOracleResponseBytes, &p.HTTPRequestTimeoutMs, &p.MaxServiceOracleMs} {
		*n = r.U64()
	}
	n := r.Length(2)
	if n > MaxHTTPAllowList {
		r.Fail("HTTP allow-list has %d hosts, at most %d", n, MaxHTTPAllowList)
		return
	}
	p.HTTPAllowList = nil
	for i := 0; i < n && r.Err() == nil; i++ {
		h := r.String()
		if r.Err() != nil {
			return
		}
		if err := checkHostName(h); err != nil {
			r.Fail("%v", err)
			return
		}
		if i > 0 && p.HTTPAllowList[i-1] >= h {
			r.Fail("HTTP allow-list must be sorted and distinct")
			return
		}
		p.HTTPAllowList = append(p.HTTPAllowList, h)
	}
}
