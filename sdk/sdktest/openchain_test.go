package sdktest_test

import (
	"encoding/hex"
	"errors"
	"testing"

	"github.com/micachain/mica/sdk"
	"github.com/micachain/mica/sdk/sdktest"
)

type opener struct{}

func (opener) Instantiate(rt *sdk.Runtime, arg []byte) error { return nil }
func (opener) ExecuteMessage(rt *sdk.Runtime, msg []byte) error {
	return errors.New("no messages")
}
func (opener) ExecuteOperation(rt *sdk.Runtime, op []byte) ([]byte, error) {
	var addr [32]byte
	for i := range addr {
		addr[i] = byte(i)
	}
	id, err := rt.OpenChain(sdk.Address32Owner(addr), sdk.Amount{Lo: 7})
	return id[:], err
}

// TestOpenChainEncoding pins the request bytes to the host's protocol encoding of
// protocol.SingleSuperOwner(Address32(0x00..1f)) followed by the amount 7 (computed with
// the main module's codec).
func TestOpenChainEncoding(t *testing.T) {
	const want = "0101000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00020000000000809698000000000040420f000000000007000000000000000000000000000000"
	chain := sdktest.NewChain()
	out, err := chain.ExecuteOperation(opener{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(chain.Opened) != 1 || hex.EncodeToString(chain.Opened[0].Request) != want || chain.Opened[0].Balance.Lo != 7 {
		t.Fatalf("open chain request %x", chain.Opened[0].Request)
	}
	if string(out) != string(chain.Opened[0].ID[:]) {
		t.Fatal("the returned id is not the opened chain's")
	}
}
