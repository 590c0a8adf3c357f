package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
)

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("validator 127.0.0.1:13101: %w", client.ErrNoQuorum), "retryable: validator N.N:N: retryable: no quorum of validators answered"},
		{fmt.Errorf("chain 0123456789abcdef: %w", base.Invalidf("height %d is not the next", 7)), "invalid: chain #: height N is not the next"},
		{context.DeadlineExceeded, "deadline: context deadline exceeded"},
		{errors.New("boom\n  twice"), "other: boom twice"},
		{base.Invalidf("insufficient balance: the chain's own account has 0, needs 0.000000000000000001"), "invalid: insufficient balance: the chain's own account has N, needs N"},
		{errors.New("owner 0xee3e3cc235fd2a262e04 on chain 3944eb22"), "other: owner # on chain #"},
	} {
		if got := Classify(c.err); got != c.want {
			t.Errorf("Classify(%q) = %q, want %q", c.err, got, c.want)
		}
	}
	// The same failure on other chains and heights is one kind.
	a := Classify(fmt.Errorf("chain %s at height %d: %w", strings.Repeat("ab", 32), 3, client.ErrConflict))
	b := Classify(fmt.Errorf("chain %s at height %d: %w", strings.Repeat("cd", 32), 912, client.ErrConflict))
	if a != b {
		t.Errorf("one failure, two kinds: %q and %q", a, b)
	}
	if long := Classify(errors.New(strings.Repeat("x", 500))); len([]rune(long)) > len("other: ")+kindPrefix+1 {
		t.Errorf("kind not bounded: %d runes", len([]rune(long)))
	}
}

func TestTally(t *testing.T) {
	tl := newTally(2)
	tl.add(errors.New("first a"))
	tl.add(errors.New("first b"))
	tl.add(errors.New("first b"))
	tl.add(errors.New("c"))
	tl.add(errors.New("d"))
	tl.add(errors.New(strings.Repeat("e", 2*maxExample)))
	got := tl.sorted()
	want := []ErrorKind{
		{Kind: OtherKind, Count: 3, Example: "c"},
		{Kind: "other: first b", Count: 2, Example: "first b"},
		{Kind: "other: first a", Count: 1, Example: "first a"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("kinds %v, want %v", got, want)
	}
	if k := newTally(0).sorted(); k == nil || len(k) != 0 {
		t.Fatalf("no errors: %#v, want an empty, non-nil list", k)
	}
	long := newTally(4)
	long.add(errors.New(strings.Repeat("e", 2*maxExample)))
	if ex := long.sorted()[0].Example; len(ex) > maxExample+len("…") {
		t.Fatalf("example not bounded: %d bytes", len(ex))
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	if _, err := Run(context.Background(), Config{OpsPerBlock: 1, Duration: time.Second, Now: time.Now}); err == nil {
		t.Fatal("a run without chains was accepted")
	}
}
