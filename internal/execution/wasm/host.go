package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"golang.org/x/crypto/sha3"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
)

// Kind is the request number of the host function mica.call. The numbers are part of
// the ABI with the SDK: never renumber them.
type Kind int32

// Request kinds; doc.go gives each one's request and response encoding.
const (
	KindChainID             Kind = 1
	KindApplicationID       Kind = 2
	KindBlockHeight         Kind = 3
	KindTimestamp           Kind = 4
	KindAuthenticatedOwner  Kind = 5
	KindReadValue           Kind = 6
	KindReadMultiValues     Kind = 7
	KindFindKeyValues       Kind = 8
	KindWriteBatch          Kind = 9
	KindSendMessage         Kind = 10
	KindTransfer            Kind = 11
	KindCallApplication     Kind = 12
	KindReadDataBlob        Kind = 13
	KindChainBalance        Kind = 14
	KindOwnerBalance        Kind = 15
	KindHTTPRequest         Kind = 16 // request → u16 status, VarBytes body (doc.go)
	KindEmitEvent           Kind = 17 // contracts only: VarBytes name, VarBytes value -> u32 index
	KindReadEvent           Kind = 18 // [32] chain, [32] app, VarBytes name, u32 index -> raw value
	KindMessageInfo         Kind = 19
	KindAuthenticatedCaller Kind = 20
	KindScheduleOperation   Kind = 21 // services only: VarBytes operation -> ()
	KindSha256              Kind = 22 // VarBytes data -> [32]
	KindKeccak256           Kind = 23 // VarBytes data -> [32] (legacy Keccak-256, as Ethereum)
	KindVerifySignature     Kind = 24 // PublicKey, [32] message, Signature -> bool
	KindClaim               Kind = 25 // contracts only: Account source, Account recipient, Amount -> ()
	KindOpenChain           Kind = 26 // contracts only: ChainOwnership, Amount -> [32] chain id
)

// Outside-world oracles (doc.go).
const (
	KindQueryService Kind = 27 // contracts only: [32] application, VarBytes query -> raw answer
	KindAssertBefore Kind = 28 // contracts only: u64 timestamp -> ()
)

// Event stream kinds (streams.go).
const (
	KindSubscribeToEvents     Kind = 29 // contracts only: [32] chain, [32] app, VarBytes name -> ()
	KindUnsubscribeFromEvents Kind = 30 // contracts only: [32] chain, [32] app, VarBytes name -> ()
)

// KindApplicationParameters returns the running application's parameters (doc.go):
// () -> raw parameter bytes. Added after the first release of ABI version 1: a host
// without it answers CodeUnknownKind.
const KindApplicationParameters Kind = 31

// VerifySignatureFuel is charged for a KindVerifySignature request on top of
// HostCallFuel and the per-byte charge. Hashing (KindSha256, KindKeccak256) costs only
// the usual per-call and per-byte charges: the data crosses the boundary once, so its
// cost is proportional to its length.
const VerifySignatureFuel = 3_000

// Negative results of mica.call. Everything else that goes wrong in a host call aborts
// the run with the runtime's error (so missing blobs, insufficient balances and
// re-entrant calls keep their error class).
const (
	CodeUnknownKind  = -1 // the kind is not defined
	CodeNotSupported = -2 // defined, but not available in this runtime or not yet
	CodeMalformed    = -3 // the request bytes do not decode
)

var (
	// ErrUnknownKind is returned by Host.Call for an undefined kind (the guest sees
	// CodeUnknownKind).
	ErrUnknownKind = errors.New("unknown host request kind")
	// ErrNotSupported is returned by Host.Call for a kind this runtime does not offer
	// (the guest sees CodeNotSupported).
	ErrNotSupported = errors.New("not supported yet")
	// ErrMalformedRequest is returned by Host.Call for undecodable request bytes (the
	// guest sees CodeMalformed).
	ErrMalformedRequest = errors.New("malformed host request")
)

// Environment fixes what WASI lets a guest observe: the clock and the random source.
type Environment struct {
	// Time is what clock_time_get returns (both clocks), as a timestamp.
	Time base.Timestamp
	// Seed seeds random_get's deterministic byte stream.
	Seed [32]byte
}

// Host serves one run's host calls. Call's response belongs to the caller. A Host is
// used from one goroutine.
type Host interface {
	// Call performs request kind with canonical-encoded request bytes. Errors
	// ErrUnknownKind, ErrNotSupported and ErrMalformedRequest are reported to the guest
	// as negative codes; any other error aborts the run and is returned by Run.
	Call(ctx context.Context, kind Kind, request []byte) ([]byte, error)
	Log(level slog.Level, message string)
	Environment() Environment
}

// NewContractHost adapts a contract runtime to the ABI.
func NewContractHost(rt execution.ContractRuntime) Host { return &contractHost{baseHost{rt}, rt} }

// NewServiceHost adapts a service runtime to the ABI. Contract-only kinds answer
// CodeNotSupported.
func NewServiceHost(rt execution.ServiceRuntime) Host { return &serviceHost{baseHost{rt}, rt} }

// Seed derives the random seed of a run from where it runs.
func Seed(chain base.ChainID, height base.BlockHeight, app base.ApplicationID) [32]byte {
	h := sha256.New()
	h.Write([]byte("mica/wasm/random/v1"))
	h.Write(chain[:])
	h.Write(binary.LittleEndian.AppendUint64(nil, uint64(height)))
	h.Write(app[:])
	var s [32]byte
	h.Sum(s[:0])
	return s
}

type baseHost struct{ rt execution.BaseRuntime }

func (h baseHost) Log(level slog.Level, message string) { h.rt.Log(level, message) }

// call serves the kinds shared by contracts and services; handled is false for others.
func (h baseHost) call(ctx context.Context, kind Kind, r *codec.Reader, w *codec.Writer) (handled bool, err error) {
	switch kind {
	case KindChainID:
		c := h.rt.ChainID()
		w.Fixed(c[:])
	case KindApplicationID:
		a := h.rt.ApplicationID()
		w.Fixed(a[:])
	case KindReadValue:
		key := r.VarBytes()
		if err := finish(r); err != nil {
			return true, err
		}
		v, ok, err := h.rt.ReadValue(ctx, key)
		if err != nil {
			return true, err
		}
		w.OptionTag(ok)
		if ok {
			w.VarBytes(v)
		}
	case KindReadMultiValues:
		n := r.Length(1)
		keys := make([][]byte, 0, n)
		for i := 0; i < n; i++ {
			keys = append(keys, r.VarBytes())
		}
		if err := finish(r); err != nil {
			return true, err
		}
		vals, err := h.rt.ReadMultiValues(ctx, keys)
		if err != nil {
			return true, err
		}
		w.Length(len(vals))
		for _, v := range vals {
			w.OptionTag(v != nil)
			if v != nil {
				w.VarBytes(v)
			}
		}
	case KindFindKeyValues:
		prefix := r.VarBytes()
		if err := finish(r); err != nil {
			return true, err
		}
		kvs, err := h.rt.FindKeyValues(ctx, prefix)
		if err != nil {
			return true, err
		}
		w.Length(len(kvs))
		for _, e := range kvs {
			w.VarBytes(e.Key)
			w.VarBytes(e.Value)
		}
	case KindReadDataBlob:
		hash := r.Hash()
		if err := finish(r); err != nil {
			return true, err
		}
		data, err := h.rt.ReadDataBlob(ctx, hash)
		if err != nil {
			return true, err
		}
		w.Fixed(data)
	case KindChainBalance:
		b, err := h.rt.ChainBalance(ctx)
		if err != nil {
			return true, err
		}
		w.Amount(b)
	case KindOwnerBalance:
		owner := r.Owner()
		if err := finish(r); err != nil {
			return true, err
		}
		b, err := h.rt.OwnerBalance(ctx, owner)
		if err != nil {
			return true, err
		}
		w.Amount(b)
	case KindSha256:
		data := r.VarBytes()
		if err := finish(r); err != nil {
			return true, err
		}
		sum := sha256.Sum256(data)
		w.Fixed(sum[:])
	case KindKeccak256:
		data := r.VarBytes()
		if err := finish(r); err != nil {
			return true, err
		}
		k := sha3.NewLegacyKeccak256()
		k.Write(data)
		w.Fixed(k.Sum(nil))
	case KindVerifySignature:
		// A key that is no usable point is a malformed request, as the ABI says.
		pk := crypto.DecodeValidPublicKey(r)
		msg := r.Hash()
		sig := crypto.DecodeSignature(r)
		if err := finish(r); err != nil {
			return true, err
		}
		chargeExtra(ctx, VerifySignatureFuel)
		// Any verification failure, including a signature of another scheme than
		// the key, is a "false" answer, not a refused request.
		w.Bool(crypto.Verify(pk, msg, sig) == nil)
	case KindApplicationParameters:
		if err := finish(r); err != nil {
			return true, err
		}
		p, err := h.rt.ApplicationParameters(ctx)
		if err != nil {
			return true, err
		}
		w.Fixed(p)
	case KindReadEvent:
		return true, readEventCall(ctx, h.rt, r, w)
	case KindHTTPRequest:
		return true, h.httpRequest(ctx, r, w)
	default:
		return false, nil
	}
	return true, nil
}

// httpRequester is implemented by the contract runtime (recorded requests) and the
// service runtime (unrecorded) of package execution.
type httpRequester interface {
	HTTPRequest(ctx context.Context, req *execution.HTTPRequest) (*execution.HTTPResponse, error)
}

func (h baseHost) httpRequest(ctx context.Context, r *codec.Reader, w *codec.Writer) error {
	var req execution.HTTPRequest
	req.Decode(r)
	if err := finish(r); err != nil {
		return err
	}
	hr, ok := h.rt.(httpRequester)
	if !ok {
		return fmt.Errorf("%w: this runtime makes no HTTP requests", ErrNotSupported)
	}
	resp, err := hr.HTTPRequest(ctx, &req)
	if err != nil {
		return err
	}
	w.U16(resp.Status)
	w.VarBytes(resp.Body)
	return nil
}

// oracleCall serves kinds 27 and 28 for contracts; handled is false for others.
func (h *contractHost) oracleCall(ctx context.Context, kind Kind, r *codec.Reader, w *codec.Writer) (handled bool, err error) {
	if kind != KindQueryService && kind != KindAssertBefore {
		return false, nil
	}
	o, ok := h.rt.(execution.ContractOracles)
	if !ok {
		return true, fmt.Errorf("%w: this runtime has no oracles", ErrNotSupported)
	}
	switch kind {
	case KindQueryService:
		app := base.ApplicationID(r.Hash())
		query := r.VarBytes()
		if err := finish(r); err != nil {
			return true, err
		}
		out, err := o.QueryService(ctx, app, query)
		if err != nil {
			return true, err
		}
		w.Fixed(out)
	case KindAssertBefore:
		t := base.Timestamp(r.U64())
		if err := finish(r); err != nil {
			return true, err
		}
		return true, o.AssertBefore(ctx, t)
	}
	return true, nil
}

type contractHost struct {
	baseHost
	rt execution.ContractRuntime
}

func (h *contractHost) Environment() Environment {
	return Environment{Time: h.rt.Timestamp(), Seed: Seed(h.rt.ChainID(), h.rt.BlockHeight(), h.rt.ApplicationID())}
}

func (h *contractHost) Call(ctx context.Context, kind Kind, request []byte) ([]byte, error) {
	r, w := codec.NewReader(request), codec.NewWriter(nil)
	handled, err := h.baseHost.call(ctx, kind, r, w)
	if !handled {
		handled, err = h.oracleCall(ctx, kind, r, w)
	}
	if !handled {
		err = h.contractCall(ctx, kind, r, w)
	}
	if err != nil {
		return nil, err
	}
	return w.Bytes(), nil
}

func (h *contractHost) contractCall(ctx context.Context, kind Kind, r *codec.Reader, w *codec.Writer) error {
	switch kind {
	case KindBlockHeight:
		w.U64(uint64(h.rt.BlockHeight()))
	case KindTimestamp:
		w.U64(uint64(h.rt.Timestamp()))
	case KindAuthenticatedOwner:
		o := h.rt.AuthenticatedOwner()
		w.OptionTag(o != nil)
		if o != nil {
			w.Owner(*o)
		}
	case KindAuthenticatedCaller:
		c := h.rt.AuthenticatedCaller()
		w.OptionTag(c != nil)
		if c != nil {
			w.Fixed(c[:])
		}
	case KindMessageInfo:
		m := h.rt.Message()
		w.OptionTag(m != nil)
		if m != nil {
			w.Fixed(m.Origin[:])
			w.U64(uint64(m.OriginHeight))
			w.U64(uint64(m.OriginTimestamp))
			w.Bool(m.IsBouncing)
		}
	case KindWriteBatch:
		var b kv.Batch
		n := r.Length(2)
		for i := 0; i < n && r.Err() == nil; i++ {
			switch r.Tag(3) {
			case 0:
				k := r.VarBytes()
				b.Put(k, r.VarBytes())
			case 1:
				b.Delete(r.VarBytes())
			case 2:
				b.DeletePrefix(r.VarBytes())
			}
		}
		if err := finish(r); err != nil {
			return err
		}
		return h.rt.WriteBatch(ctx, &b)
	case KindSendMessage:
		req := execution.SendMessageRequest{Destination: r.ChainID(), Authenticated: r.Bool(), Tracked: r.Bool(), Message: r.VarBytes()}
		if err := finish(r); err != nil {
			return err
		}
		return h.rt.SendMessage(ctx, req)
	case KindTransfer:
		source, recipient, amount := r.Owner(), r.Account(), r.Amount()
		if err := finish(r); err != nil {
			return err
		}
		return h.rt.Transfer(ctx, source, recipient, amount)
	case KindOpenChain:
		var own protocol.ChainOwnership
		own.Decode(r)
		amount := r.Amount()
		if err := finish(r); err != nil {
			return err
		}
		id, err := h.rt.OpenChain(ctx, own, amount)
		if err != nil {
			return err
		}
		w.Hash(base.Hash(id))
	case KindClaim:
		source, recipient, amount := r.Account(), r.Account(), r.Amount()
		if err := finish(r); err != nil {
			return err
		}
		return h.rt.Claim(ctx, source, recipient, amount)
	case KindCallApplication:
		auth := r.Bool()
		callee := base.ApplicationID(r.Hash())
		arg := r.VarBytes()
		if err := finish(r); err != nil {
			return err
		}
		resp, err := h.rt.CallApplication(ctx, auth, callee, arg)
		if err != nil {
			return err
		}
		w.Fixed(resp)
	case KindEmitEvent, KindSubscribeToEvents, KindUnsubscribeFromEvents:
		return streamCall(ctx, h.rt, kind, r, w)
	case KindScheduleOperation:
		return fmt.Errorf("%w: kind %d is for services only", ErrNotSupported, kind)
	default:
		return fmt.Errorf("%w: %d", ErrUnknownKind, kind)
	}
	return nil
}

type serviceHost struct {
	baseHost
	rt execution.ServiceRuntime
}

func (h *serviceHost) Environment() Environment {
	return Environment{Time: h.rt.LocalTime(), Seed: Seed(h.rt.ChainID(), h.rt.NextBlockHeight(), h.rt.ApplicationID())}
}

func (h *serviceHost) Call(ctx context.Context, kind Kind, request []byte) ([]byte, error) {
	r, w := codec.NewReader(request), codec.NewWriter(nil)
	handled, err := h.baseHost.call(ctx, kind, r, w)
	if !handled {
		switch kind {
		case KindBlockHeight:
			w.U64(uint64(h.rt.NextBlockHeight()))
		case KindTimestamp:
			w.U64(uint64(h.rt.LocalTime()))
		case KindAuthenticatedOwner, KindAuthenticatedCaller, KindMessageInfo, KindWriteBatch,
			KindSendMessage, KindTransfer, KindCallApplication, KindClaim, KindOpenChain,
			KindEmitEvent, KindSubscribeToEvents, KindUnsubscribeFromEvents:
			return nil, fmt.Errorf("%w: kind %d is for contracts only", ErrNotSupported, kind)
		case KindQueryService, KindAssertBefore:
			return nil, fmt.Errorf("%w: kind %d is for contracts only", ErrNotSupported, kind)
		case KindScheduleOperation:
			op := r.VarBytes()
			if err := finish(r); err != nil {
				return nil, err
			}
			h.rt.ScheduleOperation(op)
		default:
			return nil, fmt.Errorf("%w: %d", ErrUnknownKind, kind)
		}
	}
	if err != nil {
		return nil, err
	}
	return w.Bytes(), nil
}

// chargeExtra charges units of fuel on top of the per-call and per-byte charges, when
// the host call runs inside a Module run (ctx carries its state; services run with
// practically unlimited fuel). It aborts the run when the fuel runs out. Outside a run
// (the host adapter called directly) it does nothing.
func chargeExtra(ctx context.Context, units int64) {
	st, ok := ctx.Value(stateKey{}).(*callState)
	if !ok || st.fuel == nil {
		return
	}
	if !st.spend(units) {
		// run reports this as OutOfFuelError because the global is negative.
		panic(&hostAbort{ErrOutOfFuel})
	}
}

// finish checks the whole request decoded.
func finish(r *codec.Reader) error {
	if err := r.Finish(); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedRequest, err)
	}
	return nil
}
