// Command service is the fungible token's service module:
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o fungible_service.wasm .
package main

import (
	"github.com/micachain/mica/examples/fungible"
	"github.com/micachain/mica/sdk"
)

func init() { sdk.Service(fungible.NewService()) }

func main() {}
