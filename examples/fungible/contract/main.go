// Command contract is the fungible token's contract module:
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o fungible_contract.wasm .
package main

import (
	"github.com/micachain/mica/examples/fungible"
	"github.com/micachain/mica/sdk"
)

func init() { sdk.Contract(fungible.NewContract()) }

func main() {}
