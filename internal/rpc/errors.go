package rpc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/rpc/pb"
	"github.com/micachain/mica/internal/worker"
)

// RemoteError is a refusal answered by a validator (or a transport failure), rebuilt on
// the caller's side. It matches, with errors.Is and errors.As, the sentinel or typed
// error the validator returned (when its kind is in the table of kinds) and its class.
type RemoteError struct {
	// Kind names the error, e.g. "worker.ErrWrongHeight"; empty if none applied.
	Kind string
	// Message is the validator's error text.
	Message string
	// NextHeight is the chain's next block height at the validator, when it refused a
	// block for its height (worker.ErrWrongHeight, worker.ErrMissingEarlierBlocks).
	NextHeight *base.BlockHeight
	// TxIndex is the failing transaction when the error came from one.
	TxIndex *uint32

	// wrapped holds the rebuilt sentinel or typed error (in a *chain.TxError when
	// TxIndex is set), or the class alone for an unknown kind, plus the context error
	// of a transport failure.
	wrapped []error
}

func (e *RemoteError) Error() string { return e.Message }

// Unwrap returns the rebuilt errors.
func (e *RemoteError) Unwrap() []error { return e.wrapped }

// cause returns the rebuilt sentinel or typed error.
func (e *RemoteError) cause() error {
	if len(e.wrapped) == 0 {
		return nil
	}
	c := e.wrapped[0]
	var tx *chain.TxError
	if e.TxIndex != nil && errors.As(c, &tx) {
		return tx.Err
	}
	return c
}

// NextHeight returns the chain's next height that a validator reported with a
// wrong-height or missing-earlier-blocks refusal.
func NextHeight(err error) (base.BlockHeight, bool) {
	var re *RemoteError
	if errors.As(err, &re) && re.NextHeight != nil {
		return *re.NextHeight, true
	}
	var he *heightError
	if errors.As(err, &he) {
		return he.next, true
	}
	return 0, false
}

// heightError annotates a refusal with the chain's next height (server side).
type heightError struct {
	error
	next base.BlockHeight
}

func (e *heightError) Unwrap() error { return e.error }

// maxErrorMessage bounds the text sent with an error (it travels in HTTP/2 trailers).
const maxErrorMessage = 4 << 10

// wireMessage makes an error text fit for the wire: valid UTF-8 (protobuf strings
// must be) and at most about maxErrorMessage bytes.
func wireMessage(msg string) string {
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	if len(msg) <= maxErrorMessage {
		return msg
	}
	cut := maxErrorMessage
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "…"
}

// classOf returns the wire class of err, most severe first.
func classOf(err error) pb.Error_Class {
	switch {
	case errors.Is(err, base.ErrCorrupt):
		return pb.Error_CLASS_CORRUPT
	case errors.Is(err, base.ErrInvalid):
		return pb.Error_CLASS_INVALID
	case errors.Is(err, base.ErrNotFound):
		return pb.Error_CLASS_NOT_FOUND
	case errors.Is(err, base.ErrRetryable):
		return pb.Error_CLASS_RETRYABLE
	}
	return pb.Error_CLASS_UNSPECIFIED
}

func classError(c pb.Error_Class) error {
	switch c {
	case pb.Error_CLASS_INVALID:
		return base.ErrInvalid
	case pb.Error_CLASS_NOT_FOUND:
		return base.ErrNotFound
	case pb.Error_CLASS_CORRUPT:
		return base.ErrCorrupt
	case pb.Error_CLASS_RETRYABLE:
		return base.ErrRetryable
	}
	return nil
}

// encodeError describes err for the wire.
func encodeError(err error) *pb.Error {
	out := &pb.Error{Message: wireMessage(err.Error())}
	var re *RemoteError
	if errors.As(err, &re) {
		// Forwarded from a shard: keep what the shard said.
		out.Kind = re.Kind
		if k := kindByName[re.Kind]; k != nil && k.extract != nil {
			out.Detail, _ = k.extract(re.cause())
		}
		out.TxIndex = re.TxIndex
	} else {
		inner := err
		var tx *chain.TxError
		if errors.As(err, &tx) && tx.Err != nil {
			if k, _ := matchKind(tx.Err); k != nil {
				inner = tx.Err
				i := uint32(tx.Index)
				out.TxIndex = &i
			}
		}
		if k, detail := matchKind(inner); k != nil {
			out.Kind, out.Detail = k.name, detail
		}
	}
	if h, ok := NextHeight(err); ok {
		n := uint64(h)
		out.NextHeight = &n
	}
	if k := kindByName[out.Kind]; k != nil && k.class != nil {
		out.Class = classOf(k.class)
	} else {
		out.Class = classOf(err)
	}
	return out
}

// decodeError rebuilds the error a validator described. It never fails: unknown kinds
// keep the class, malformed details degrade to the kind's sentinel.
func decodeError(e *pb.Error) *RemoteError {
	re := &RemoteError{Kind: e.GetKind(), Message: e.GetMessage()}
	if e.NextHeight != nil {
		h := base.BlockHeight(*e.NextHeight)
		re.NextHeight = &h
	}
	k := kindByName[re.Kind]
	if k == nil {
		// Unknown kind: keep the class the validator claimed.
		re.Kind = ""
		if c := classError(e.GetClass()); c != nil {
			re.wrapped = []error{c}
		}
		return re
	}
	// The class follows from the kind, whatever the validator claimed.
	cause := k.rebuild(e.GetDetail())
	if e.TxIndex != nil {
		i := *e.TxIndex
		re.TxIndex = &i
		cause = &chain.TxError{Index: int(i), Err: cause}
	}
	re.wrapped = []error{cause}
	if k.class != nil {
		re.wrapped = append(re.wrapped, k.class)
	}
	return re
}

// toStatus turns a handler's error into a gRPC status carrying a pb.Error.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	e := encodeError(err)
	code := codes.Internal
	switch {
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	default:
		switch e.Class {
		case pb.Error_CLASS_INVALID:
			code = codes.InvalidArgument
		case pb.Error_CLASS_NOT_FOUND:
			code = codes.NotFound
		case pb.Error_CLASS_CORRUPT:
			code = codes.DataLoss
		case pb.Error_CLASS_RETRYABLE:
			code = codes.Unavailable
		}
	}
	st, derr := status.New(code, e.Message).WithDetails(e)
	if derr != nil {
		return status.Error(code, e.Message)
	}
	return st.Err()
}

// fromStatus turns an error returned by a gRPC call into a *RemoteError: the pb.Error of
// its details if it has one, else a transport failure of class base.ErrRetryable.
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	re := &RemoteError{Kind: "rpc.ErrUnreachable", wrapped: []error{ErrUnreachable}}
	st, ok := status.FromError(err)
	if !ok {
		re.Message = "validator unreachable: " + err.Error()
		switch {
		case errors.Is(err, context.Canceled):
			re.wrapped = append(re.wrapped, context.Canceled)
		case errors.Is(err, context.DeadlineExceeded):
			re.wrapped = append(re.wrapped, context.DeadlineExceeded)
		}
		return re
	}
	for _, d := range st.Details() {
		if e, ok := d.(*pb.Error); ok {
			return decodeError(e)
		}
	}
	re.Message = fmt.Sprintf("validator unreachable: %s: %s", st.Code(), st.Message())
	switch st.Code() {
	case codes.Canceled:
		re.wrapped = append(re.wrapped, context.Canceled)
	case codes.DeadlineExceeded:
		re.wrapped = append(re.wrapped, context.DeadlineExceeded)
	}
	return re
}

// annotateHeight adds the chain's next height to a wrong-height or
// missing-earlier-blocks refusal, asking query for it.
func annotateHeight(ctx context.Context, err error, next func(context.Context) (base.BlockHeight, error)) error {
	if err == nil || !(errors.Is(err, worker.ErrWrongHeight) || errors.Is(err, worker.ErrMissingEarlierBlocks)) {
		return err
	}
	if _, ok := NextHeight(err); ok {
		return err
	}
	h, qerr := next(ctx)
	if qerr != nil {
		return err
	}
	return &heightError{error: err, next: h}
}
