// Command contract is the crowd-funding contract module:
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o crowdfunding_contract.wasm .
package main

import (
	"github.com/micachain/mica/examples/crowdfunding"
	"github.com/micachain/mica/sdk"
)

func init() { sdk.Contract(crowdfunding.NewContract()) }

func main() {}
