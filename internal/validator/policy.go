package validator

import (
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// Policy names for `--policy` (net up, validator generate).
const (
	PolicyFree    = "free"
	PolicyTestnet = "testnet"
)

// Policies lists the names Policy accepts.
var Policies = []string{PolicyFree, PolicyTestnet}

// Policy returns the resource policy of a profile:
//
//   - "free" (the default): protocol.NoFeesPolicy, limits only.
//   - "testnet": the same limits, and prices that make spam cost something while a
//     faucet's grant of 100 tokens still pays for tens of thousands of transfers:
//     0.001 per operation and per outgoing message, 0.00001 per byte of operation and
//     message payload, 0.000001 per byte of a published data blob (1 MiB ≈ 1.05), and
//     0.01 per HTTP request or service query a contract makes. Fuel and bytes written
//     stay unpriced (bounded by the limits): a block does not record them, and with
//     this profile anyone can check a block's fees from the block alone (`show-block`).
//     A transfer to another chain pays 0.00274 (see docs/OPERATIONS.md).
func Policy(name string) (protocol.ResourcePolicy, error) {
	p := protocol.NoFeesPolicy()
	switch name {
	case PolicyFree, "":
		return p, nil
	case PolicyTestnet:
		milli := base.AmountFromAttos(1_000_000_000_000_000) // 0.001
		p.Operation = milli
		p.Message = milli
		p.OperationByte = base.AmountFromAttos(10_000_000_000_000) // 0.00001
		p.MessageByte = base.AmountFromAttos(10_000_000_000_000)
		p.BlobByte = base.AmountFromAttos(1_000_000_000_000)                  // 0.000001
		p.HTTPRequest = base.AmountFromAttos(10_000_000_000_000_000)          // 0.01
		p.ServiceAsOracleQuery = base.AmountFromAttos(10_000_000_000_000_000) // 0.01
		return p, nil
	}
	return p, fmt.Errorf("unknown policy %q (choose %s or %s)", name, PolicyFree, PolicyTestnet)
}
