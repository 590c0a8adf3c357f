// Command contract is the ai-oracle's contract module:
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o ai-oracle_contract.wasm .
package main

import (
	aioracle "github.com/micachain/mica/examples/ai-oracle"
	"github.com/micachain/mica/sdk"
)

func init() { sdk.Contract(aioracle.NewContract()) }

func main() {}
