// Command service is the social application's service module:
//
//	GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o social_service.wasm .
package main

import (
	"github.com/micachain/mica/examples/social"
	"github.com/micachain/mica/sdk"
)

func init() { sdk.Service(social.NewService()) }

func main() {}
