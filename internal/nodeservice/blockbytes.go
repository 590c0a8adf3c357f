package nodeservice

import (
	"context"
	"errors"
	"sync"

	"github.com/micachain/mica/internal/protocol"
)

// What one request may make the service read of blocks and blobs. The blocks of a chain
// outside the wallet are a stranger's (a request may name such chains, synced on
// demand), up to MaxBlockSize (16 MiB) each: a list of 100 of them, built into views that
// carry each certificate in base64, and that list repeated by aliases up to the
// complexity limit, made one GET query (any web page on loopback) read and hold tens of
// GB; a blob query read its blob whole (up to MaxBytecodeSize, 32 MiB) to tell its size,
// as often as aliases repeat it. The blocks that all the fields of one request list or
// scan (blocks, applications) and the blobs it asks for share Limits.MaxReadBytes of
// bytes read (certificates' encodings, blobs' contents). Each field reads while the
// budget has room, the request's first read whatever its size, and answers a prefix of
// what it was asked: a blocks list stops short, and is empty once the budget is spent
// (an error would void the whole answer); an applications list covers fewer blocks; a
// blob query fails (errBudgetSpent). The caller asks for the rest in another request.

// DefaultMaxReadBytes is Limits.MaxReadBytes' default.
const DefaultMaxReadBytes = 32 << 20

// errBudgetSpent: the request has read what one request may; a block list then answers
// an empty prefix (an error would void the whole answer), a blob query this error.
var errBudgetSpent = errors.New("this request has read the blocks and blobs one request may (Limits.MaxReadBytes); ask in another request")

// readBudget is one request's budget of bytes read. Its fields are read under mu,
// which is held while a field reads (gqlgen resolves fields concurrently; the
// reads are local).
type readBudget struct {
	mu      sync.Mutex
	left    int
	started bool
}

type readBudgetKey struct{}

// withReadBudget returns ctx carrying a fresh budget of max bytes for one request.
func withReadBudget(ctx context.Context, max int) context.Context {
	return context.WithValue(ctx, readBudgetKey{}, &readBudget{left: max})
}

// readBlocks reads certificates through read (CertificatesWithin or
// LatestCertificatesWithin) within the request's budget (spend).
func (s *Service) readBlocks(ctx context.Context,
	read func(maxBytes int) ([]*protocol.Certificate, int, error)) ([]*protocol.Certificate, error) {
	var certs []*protocol.Certificate
	err := s.spend(ctx, func(left int) (n int, err error) {
		certs, n, err = read(left)
		return n, err
	})
	if errors.Is(err, errBudgetSpent) {
		return nil, nil
	}
	return certs, err
}

// spend runs read with what is left of the request's budget (a context without one, a
// caller inside the process, gets a budget of its own) and charges the bytes it
// reports. Once the budget is spent (the request's first read is always run), read is
// not run and spend returns errBudgetSpent.
func (s *Service) spend(ctx context.Context, read func(left int) (int, error)) error {
	b, _ := ctx.Value(readBudgetKey{}).(*readBudget)
	if b == nil {
		b = &readBudget{left: s.limits.MaxReadBytes}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.left <= 0 && b.started {
		return errBudgetSpent
	}
	n, err := read(max(b.left, 0))
	if err != nil {
		return err
	}
	b.started = true
	b.left -= n
	return nil
}
