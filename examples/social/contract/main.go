// Command contract is the social application's contract module:
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o social_contract.wasm .
package main

import (
	"github.com/micachain/mica/examples/social"
	"github.com/micachain/mica/sdk"
)

func init() { sdk.Contract(social.NewContract()) }

func main() {}
