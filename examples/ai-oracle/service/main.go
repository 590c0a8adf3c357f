// Command service is the ai-oracle's service module:
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o ai-oracle_service.wasm .
package main

import (
	aioracle "github.com/micachain/mica/examples/ai-oracle"
	"github.com/micachain/mica/sdk"
)

func init() { sdk.Service(aioracle.NewService()) }

func main() {}
