package view

import (
	"encoding/json"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// TestBlockJSONIsStructured: a block rendered with encoding/json (the CLI's --json) has
// its operations' JSON as JSON values, not base64 strings, and the schema's field names.
func TestBlockJSONIsStructured(t *testing.T) {
	chain := base.ChainID{1}
	op := protocol.SystemOp(&protocol.Transfer{Owner: base.ChainOwner, Recipient: base.Account{Chain: base.ChainID{2}}, Amount: base.Tokens(3)})
	cert := &protocol.Certificate{Kind: protocol.KindConfirmed, Block: &protocol.Block{Proposed: protocol.ProposedBlock{ChainID: chain, Height: 4,
		Transactions: []protocol.Transaction{{Operation: &op}}}}}
	b, err := json.Marshal(Block(cert))
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		ChainID    string `json:"chainId"`
		Height     int64  `json:"height"`
		Operations []struct {
			Index int    `json:"index"`
			Kind  string `json:"kind"`
			JSON  struct {
				Amount    string `json:"amount"`
				Recipient string `json:"recipient"`
			} `json:"json"`
		} `json:"operations"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if v.ChainID != chain.String() || v.Height != 4 || len(v.Operations) != 1 || v.Operations[0].Kind != "Transfer" || v.Operations[0].JSON.Amount != "3" {
		t.Fatalf("block JSON: %s", b)
	}
	if r := BlockResult(cert); r.ChainID != chain.String() || r.Height != 4 || r.Hash != cert.ValueHash().String() {
		t.Fatalf("block result %+v", r)
	}
}
