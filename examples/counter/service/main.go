// Command service is the counter's service module:
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o counter_service.wasm .
package main

import (
	"github.com/micachain/mica/examples/counter"
	"github.com/micachain/mica/sdk"
)

func init() { sdk.Service(counter.NewService()) }

func main() {}
