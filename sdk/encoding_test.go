package sdk

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/micachain/mica/sdk/internal/abi"
)

// recorder is a host that records requests and answers from a table.
type recorder struct {
	reqs    map[uint32][]byte
	answers map[uint32][]byte
}

func (r *recorder) Call(kind uint32, req []byte) ([]byte, int64) {
	r.reqs[kind] = bytes.Clone(req)
	a, ok := r.answers[kind]
	if !ok {
		return nil, abi.CodeNotSupported
	}
	return a, int64(len(a))
}
func (r *recorder) SetOutput([]byte)  {}
func (r *recorder) SetError(string)   {}
func (r *recorder) Log(int32, string) {}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRequestEncodings pins the byte encodings of the requests (package codec of the
// main module: u64/u128 LE, ULEB lengths, Owner = ULEB tag + 1/32/20 bytes, bool 0/1).
func TestRequestEncodings(t *testing.T) {
	r := &recorder{reqs: map[uint32][]byte{}, answers: map[uint32][]byte{
		abi.KindSendMessage: {}, abi.KindTransfer: {}, abi.KindWriteBatch: {},
		abi.KindCallApplication: []byte("resp"),
	}}
	rt := newRuntime(r, false)
	var chain ChainID
	chain[0], chain[31] = 0xaa, 0xbb
	c32 := hex.EncodeToString(chain[:])

	if err := rt.SendMessage(chain, []byte("hi"), true, false); err != nil {
		t.Fatal(err)
	}
	// [32] chain, bool authenticated, bool tracked, VarBytes message.
	if got, want := r.reqs[abi.KindSendMessage], unhex(t, c32+"00"+"01"+"02"+"6869"); !bytes.Equal(got, want) {
		t.Fatalf("send message: %x, want %x", got, want)
	}

	var a20 [20]byte
	a20[0] = 0x11
	amt := Amount{Lo: 1, Hi: 2}
	if err := rt.Transfer(ReservedOwner(0), Account{Chain: chain, Owner: Address20Owner(a20)}, amt); err != nil {
		t.Fatal(err)
	}
	want := "0000" + c32 + "02" + hex.EncodeToString(a20[:]) + "0100000000000000" + "0200000000000000"
	if got := hex.EncodeToString(r.reqs[abi.KindTransfer]); got != want {
		t.Fatalf("transfer: %s, want %s", got, want)
	}

	resp, err := rt.CallApplication(true, ApplicationID(chain), []byte{9})
	if err != nil || string(resp) != "resp" {
		t.Fatalf("call application: %q %v", resp, err)
	}
	if got, want := hex.EncodeToString(r.reqs[abi.KindCallApplication]), "01"+c32+"0109"; got != want {
		t.Fatalf("call application: %s, want %s", got, want)
	}

	rt.Set([]byte("b"), []byte("2"))
	rt.Set([]byte("a"), bytes.Repeat([]byte{7}, 200))
	rt.Delete([]byte("c"))
	rt.Set([]byte("p/x"), []byte("gone"))
	rt.DeletePrefix([]byte("p/"))
	if err := rt.flush(); err != nil {
		t.Fatal(err)
	}
	// count 4; delete prefix "p/"; put "a" (200 bytes: ULEB c8 01); put "b"; delete "c".
	want = "04" + "02" + "02702f" + "00" + "0161" + "c801" + hex.EncodeToString(bytes.Repeat([]byte{7}, 200)) +
		"00" + "0162" + "0132" + "01" + "0163"
	if got := hex.EncodeToString(r.reqs[abi.KindWriteBatch]); got != want {
		t.Fatalf("write batch:\n%s\nwant\n%s", got, want)
	}
	// Nothing staged: no batch.
	delete(r.reqs, abi.KindWriteBatch)
	if err := rt.flush(); err != nil || r.reqs[abi.KindWriteBatch] != nil {
		t.Fatalf("empty flush sent %x (%v)", r.reqs[abi.KindWriteBatch], err)
	}

	// Refusals are HostErrors.
	err = rt.SendMessage(chain, nil, false, false)
	if err != nil {
		t.Fatal(err)
	}
	delete(r.answers, abi.KindSendMessage)
	if err := rt.SendMessage(chain, nil, false, false); err == nil {
		t.Fatal("refused request succeeded")
	} else if he, ok := err.(*HostError); !ok || he.Code != abi.CodeNotSupported {
		t.Fatalf("error %v", err)
	}
}

func TestResponseDecodings(t *testing.T) {
	var h [32]byte
	h[0] = 5
	owner := append([]byte{1, 1}, h[:]...) // Some(Address32(h))
	r := &recorder{reqs: map[uint32][]byte{}, answers: map[uint32][]byte{
		abi.KindAuthenticatedOwner: owner,
		abi.KindChainBalance:       unhex(t, "ffffffffffffffff"+"0100000000000000"),
		abi.KindMessageInfo:        append(append([]byte{1}, h[:]...), unhex(t, "0700000000000000"+"0800000000000000"+"01")...),
		abi.KindReadValue:          {1, 2, 'h', 'i'},
	}}
	rt := newRuntime(r, false)
	if o, ok := rt.AuthenticatedOwner(); !ok || o != Address32Owner(h) {
		t.Fatalf("owner %v %v", o, ok)
	}
	if b := rt.ChainBalance(); b != (Amount{Lo: ^uint64(0), Hi: 1}) || b.String() != "36893488147419103231" {
		t.Fatalf("balance %+v %s", b, b)
	}
	if m, ok := rt.MessageInfo(); !ok || m != (MessageInfo{Origin: h, OriginHeight: 7, OriginTimestamp: 8, IsBouncing: true}) {
		t.Fatalf("message info %+v", m)
	}
	if v, ok := rt.Get([]byte("k")); !ok || string(v) != "hi" {
		t.Fatalf("get %q %v", v, ok)
	}
	if got := hex.EncodeToString(r.reqs[abi.KindReadValue]); got != "016b" {
		t.Fatalf("read value request %s", got)
	}
	// A malformed response panics (the dispatcher turns it into an error).
	r.answers[abi.KindChainBalance] = []byte{1}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("no panic on a truncated response")
			}
		}()
		rt.ChainBalance()
	}()
}

func TestAmountString(t *testing.T) {
	for _, c := range []struct {
		a    Amount
		want string
	}{{NewAmount(0), "0"}, {NewAmount(42), "42"}, {Amount{Hi: 1}, "18446744073709551616"},
		{Amount{Lo: ^uint64(0), Hi: ^uint64(0)}, "340282366920938463463374607431768211455"}} {
		if got := c.a.String(); got != c.want {
			t.Errorf("%+v: %s, want %s", c.a, got, c.want)
		}
	}
}
