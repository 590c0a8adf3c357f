// Command service is the auction's service module:
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o auction_service.wasm .
package main

import (
	"github.com/micachain/mica/examples/auction"
	"github.com/micachain/mica/sdk"
)

func init() { sdk.Service(auction.NewService()) }

func main() {}
