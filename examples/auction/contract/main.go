// Command contract is the auction's contract module:
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o auction_contract.wasm .
package main

import (
	"github.com/micachain/mica/examples/auction"
	"github.com/micachain/mica/sdk"
)

func init() { sdk.Contract(auction.NewContract()) }

func main() {}
