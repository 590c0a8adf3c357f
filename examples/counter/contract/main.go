// Command contract is the counter's contract module:
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o counter_contract.wasm .
package main

import (
	"github.com/micachain/mica/examples/counter"
	"github.com/micachain/mica/sdk"
)

func init() { sdk.Contract(counter.NewContract()) }

func main() {}
