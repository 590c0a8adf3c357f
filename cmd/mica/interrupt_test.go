package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
)

// TestInterruptedFailure: Ctrl-C during publish-module (validators compiling) failed
// with exit status 1 and "invalid operation: ServiceBytecode of the published module:
// waiting for the compilation of module ...: context canceled", kind invalid: the layers
// below had turned the cancellation into text. Once the user has interrupted the
// command, its failure is the interruption: exit status 130, "interrupted".
func TestInterruptedFailure(t *testing.T) {
	flattened := fmt.Errorf("%w: ServiceBytecode of the published module: waiting for the compilation of module 23e6e9ec: %v", base.ErrInvalid, context.Canceled)
	interrupted, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		ctx       context.Context
		err       error
		code      int
		msg, kind string
	}{
		{interrupted, flattened, 130, "interrupted", "interrupted"},
		{interrupted, context.Canceled, 130, "interrupted", "interrupted"},
		{context.Background(), flattened, 1, strings.TrimPrefix(flattened.Error(), base.ErrInvalid.Error()+": "), "invalid"},
		{context.Background(), &usageError{msg: "bad"}, 2, "bad", "usage"},
	} {
		code, err := failure(tc.ctx, tc.err)
		msg, kind := describeError(nil, err)
		if code != tc.code || msg != tc.msg || kind != tc.kind {
			t.Errorf("failure(ctx done: %v, %q) = exit %d, %q (%s); want exit %d, %q (%s)", tc.ctx.Err() != nil, tc.err, code, msg, kind, tc.code, tc.msg, tc.kind)
		}
	}
}
