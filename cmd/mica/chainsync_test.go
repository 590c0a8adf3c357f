package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// fakeSource is a validator's certificate download for diagnose.
type fakeSource struct {
	certs []*protocol.Certificate
	err   error
}

func (f fakeSource) Certificates(context.Context, base.ChainID, base.BlockHeight, base.BlockHeight) ([]*protocol.Certificate, error) {
	return f.certs, f.err
}

// fakeLocal is the local node for diagnose: it refuses with err, or accepts.
type fakeLocal struct{ err error }

func (f fakeLocal) HandleCertificate(context.Context, *protocol.Certificate) (*protocol.ChainInfo, error) {
	return nil, f.err
}

// TestSyncShortfallReasons: when validators claim more than the replica reached, each
// one's reason is named: a failed download, an answer that is not the block, or the
// local node's refusal of the block (with the internal class prefix removed); a block
// the local node now accepts reports progress instead.
func TestSyncShortfallReasons(t *testing.T) {
	id := base.ChainID{7}
	cert := func(h base.BlockHeight) *protocol.Certificate {
		return &protocol.Certificate{Kind: protocol.KindConfirmed, Block: &protocol.Block{Proposed: protocol.ProposedBlock{ChainID: id, Height: h}}}
	}
	var claims chainClaims
	claims.note(id, "127.0.0.1:3", fakeSource{certs: []*protocol.Certificate{cert(5)}}, 9)
	claims.note(id, "127.0.0.1:1", fakeSource{err: errors.New("connection reset")}, 8)
	claims.note(id, "127.0.0.1:2", fakeSource{certs: []*protocol.Certificate{cert(6)}}, 9)
	claims.note(id, "127.0.0.1:4", fakeSource{}, 5) // not ahead
	claims.note(id, "127.0.0.1:1", fakeSource{}, 7) // a lower claim does not replace a higher one
	claims.note(base.ChainID{8}, "127.0.0.1:9", fakeSource{}, 100)
	ahead := claims.above(id, 5)
	if len(ahead) != 3 || ahead[0].addr != "127.0.0.1:1" || ahead[0].next != 8 || ahead[2].addr != "127.0.0.1:3" {
		t.Fatalf("claims above 5: %+v", ahead)
	}
	name := func(addr string) string { return "validator " + addr }
	refusal := fmt.Errorf("%w: missing blob Data:abc", base.ErrNotFound)
	reasons, progressed := diagnose(context.Background(), fakeLocal{err: refusal}, id, 5, ahead, name)
	want := []string{
		"validator 127.0.0.1:1 did not send block 5 (connection reset)",
		"validator 127.0.0.1:2 sent no confirmed certificate of block 5",
		"block 5 from validator 127.0.0.1:3 is refused: missing blob Data:abc",
	}
	if progressed || strings.Join(reasons, "\n") != strings.Join(want, "\n") {
		t.Fatalf("reasons %q (progressed %v), want %q", reasons, progressed, want)
	}
	if _, progressed := diagnose(context.Background(), fakeLocal{}, id, 5, ahead, name); !progressed {
		t.Fatal("a block the local node accepts is no shortfall")
	}
	if len(claims.above(id, 9)) != 0 {
		t.Fatal("claims at the replica's height are not ahead")
	}
}
