package execution

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// checkingLoader is a loader whose module check (ModuleValidator) answers err.
type checkingLoader struct {
	nativeLoader
	err error
}

func (l *checkingLoader) ValidateModule(context.Context, []byte) error { return l.err }

// TestPublishModuleCheckThatDidNotEnd: a module check that did not reach a verdict — its
// wait for a compilation already under way ended with the request's context — is not
// the module's fault. It was reported as an invalid operation ("ServiceBytecode of the
// published module: waiting for the compilation ...: context canceled", class
// ErrInvalid), so a client gave up where it could try again and the CLI did not see
// its Ctrl-C. It keeps its class (retryable) and its cause; a module the check refuses
// is still an invalid operation.
func TestPublishModuleCheckThatDidNotEnd(t *testing.T) {
	for _, c := range []struct {
		name    string
		err     error
		want    error
		invalid bool
	}{
		{"refused", base.Invalidf("malformed module"), ErrInvalidOperation, true},
		{"wait ended", fmt.Errorf("%w: waiting for the compilation of module 00: %w", base.ErrRetryable, context.Canceled), context.Canceled, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := newNet(t)
			n.loader = &checkingLoader{err: c.err}
			contract := n.res.addBlob(protocol.NewBlob(base.BlobContractBytecode, []byte("contract")))
			service := n.res.addBlob(protocol.NewBlob(base.BlobServiceBytecode, []byte("service")))
			s, id := userChain(t, n)
			op := &protocol.PublishModule{Module: protocol.ModuleID{Contract: contract.Hash, Service: service.Hash}}
			_, err := s.ExecuteTransaction(bg, tc(id, &alice), sysTx(op), LiveOracles(n.res))
			if !errors.Is(err, c.want) || errors.Is(err, ErrInvalidOperation) != c.invalid || base.IsInvalid(err) != c.invalid || errors.Is(err, base.ErrRetryable) == c.invalid {
				t.Fatalf("publish with a check answering %q: %v (invalid operation %v, invalid %v, retryable %v)", c.err, err,
					errors.Is(err, ErrInvalidOperation), base.IsInvalid(err), errors.Is(err, base.ErrRetryable))
			}
		})
	}
}
