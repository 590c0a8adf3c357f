package sdktest_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/micachain/mica/sdk"
	"github.com/micachain/mica/sdk/sdktest"
)

var (
	queue  = sdk.NewQueue[string]("queue/")
	events = sdk.NewLog[int]("log/")
)

// structApp exercises Queue, Log and the crypto host calls through its operations.
type structApp struct{}

func (structApp) Instantiate(*sdk.Runtime, []byte) error    { return nil }
func (structApp) ExecuteMessage(*sdk.Runtime, []byte) error { return nil }

func (structApp) ExecuteOperation(rt *sdk.Runtime, op []byte) ([]byte, error) {
	cmd, arg, _ := strings.Cut(string(op), " ")
	switch cmd {
	case "push":
		return nil, queue.PushBack(rt, arg)
	case "pop":
		v, ok, err := queue.PopFront(rt)
		n, _ := queue.Len(rt)
		return fmt.Appendf(nil, "%s %v %d", v, ok, n), err
	case "front":
		v, ok, err := queue.Front(rt)
		return fmt.Appendf(nil, "%s %v", v, ok), err
	case "append":
		var n int
		fmt.Sscan(arg, &n)
		i, err := events.Append(rt, n)
		return fmt.Appendf(nil, "%d", i), err
	case "range":
		var a, b int
		fmt.Sscan(arg, &a, &b)
		vs, err := events.Range(rt, a, b)
		n, _ := events.Len(rt)
		v, ok, _ := events.Get(rt, a)
		return fmt.Appendf(nil, "%v len=%d get=%d,%v", vs, n, v, ok), err
	case "sha256":
		h := rt.Sha256([]byte(arg))
		return h[:], nil
	case "keccak256":
		h := rt.Keccak256([]byte(arg))
		return h[:], nil
	case "verify":
		pk, _ := hex.DecodeString(arg)
		return fmt.Appendf(nil, "%v", rt.VerifySignature(pk, [32]byte{1}, []byte{0, 2, 7, 7})), nil
	}
	return nil, errors.New("unknown command")
}

func run(t *testing.T, c *sdktest.Chain, op string) string {
	t.Helper()
	out, err := c.ExecuteOperation(structApp{}, []byte(op))
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	return string(out)
}

func TestQueue(t *testing.T) {
	c := sdktest.NewChain()
	if got := run(t, c, "pop"); got != " false 0" {
		t.Errorf("pop empty = %q", got)
	}
	for _, s := range []string{"a", "b", "c"} {
		run(t, c, "push "+s)
	}
	if got := run(t, c, "front"); got != "a true" {
		t.Errorf("front = %q", got)
	}
	for _, want := range []string{"a true 2", "b true 1", "c true 0", " false 0"} {
		if got := run(t, c, "pop"); got != want {
			t.Errorf("pop = %q, want %q", got, want)
		}
	}
	if keys := c.Keys(); len(keys) != 0 {
		t.Errorf("empty queue left keys %q", keys)
	}
	run(t, c, "push d")
	if keys := c.Keys(); !reflect.DeepEqual(keys, []string{"queue/e0000000000000000", "queue/h"}) {
		t.Errorf("keys = %q", keys)
	}
}

func TestLog(t *testing.T) {
	c := sdktest.NewChain()
	for i := range 12 {
		if got := run(t, c, fmt.Sprintf("append %d", i*10)); got != fmt.Sprint(i) {
			t.Errorf("append index = %q, want %d", got, i)
		}
	}
	for op, want := range map[string]string{
		"range 0 3":   "[0 10 20] len=12 get=0,true",
		"range 10 99": "[100 110] len=12 get=100,true",
		"range -5 1":  "[0] len=12 get=0,false",
		"range 12 20": "[] len=12 get=0,false",
	} {
		if got := run(t, c, op); got != want {
			t.Errorf("%s = %q, want %q", op, got, want)
		}
	}
}

func TestHashes(t *testing.T) {
	c := sdktest.NewChain()
	want := sha256.Sum256([]byte("abc"))
	if got := run(t, c, "sha256 abc"); got != string(want[:]) {
		t.Errorf("sha256 = %x", got)
	}
	for in, want := range map[string]string{
		"":                       "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
		"abc":                    "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
		strings.Repeat("a", 200): "",
	} {
		got := hex.EncodeToString([]byte(run(t, c, "keccak256 "+in)))
		if want != "" && got != want {
			t.Errorf("keccak256(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestVerifySignature(t *testing.T) {
	c := sdktest.NewChain()
	// Without a verifier the entry point aborts with a clear error.
	if _, err := c.ExecuteOperation(structApp{}, []byte("verify 000101")); !errors.Is(err, sdktest.ErrNoVerifier) {
		t.Errorf("no verifier: err = %v", err)
	}
	var seen []byte
	c.VerifySignature = func(pk []byte, msg [32]byte, sig []byte) (bool, error) {
		seen = pk
		if msg != [32]byte{1} || string(sig) != "\x00\x02\x07\x07" {
			return false, sdktest.ErrMalformed
		}
		return len(pk) == 3, nil
	}
	if got := run(t, c, "verify 000101"); got != "true" || string(seen) != "\x00\x01\x01" {
		t.Errorf("verify = %q, key %x", got, seen)
	}
	if got := run(t, c, "verify 00020101"); got != "false" {
		t.Errorf("verify other key = %q", got)
	}
	// A key that is not one tag and one length-prefixed string is refused by the SDK.
	seen = nil
	if got := run(t, c, "verify 0001010101"); got != "false" || seen != nil {
		t.Errorf("verify bad encoding = %q (hook saw %x)", got, seen)
	}
}
