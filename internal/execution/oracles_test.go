package execution

import (
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// TestUsesOracles: blob reads (content-addressed, the bytecode and description of an
// application included) do not keep a block out of the fast round; any event read does.
func TestUsesOracles(t *testing.T) {
	blob := func(typ base.BlobType) protocol.OracleResponse {
		return protocol.OracleResponse{Kind: protocol.OracleBlob, Blob: base.BlobID{Type: typ, Hash: base.Hash{byte(typ)}}}
	}
	event := protocol.OracleResponse{Kind: protocol.OracleEvent, Event: protocol.EventID{Stream: protocol.NewEpochStream, Index: 1}, Value: []byte{1}}
	loads := []protocol.OracleResponse{blob(base.BlobApplicationDescription), blob(base.BlobContractBytecode), blob(base.BlobServiceBytecode), blob(base.BlobData)}
	cases := []struct {
		name string
		rs   [][]protocol.OracleResponse
		want bool
	}{
		{"none", nil, false},
		{"empty transactions", [][]protocol.OracleResponse{nil, {}}, false},
		{"application loads", [][]protocol.OracleResponse{loads, loads}, false},
		{"an event", [][]protocol.OracleResponse{nil, {event}}, true},
		{"an event after blob reads", [][]protocol.OracleResponse{loads, append(append([]protocol.OracleResponse(nil), loads...), event)}, true},
		{"an unknown kind", [][]protocol.OracleResponse{{{Kind: protocol.OracleEvent + 1}}}, true},
	}
	for _, c := range cases {
		if got := UsesOracles(c.rs); got != c.want {
			t.Errorf("%s: UsesOracles = %v, want %v", c.name, got, c.want)
		}
	}
}
