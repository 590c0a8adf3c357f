// Command service is the crowd-funding service module:
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o crowdfunding_service.wasm .
package main

import (
	"github.com/micachain/mica/examples/crowdfunding"
	"github.com/micachain/mica/sdk"
)

func init() { sdk.Service(crowdfunding.NewService()) }

func main() {}
