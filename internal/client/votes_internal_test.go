package client

import (
	"errors"
	"slices"
	"testing"

	"github.com/micachain/mica/internal/protocol/prototest"
)

// TestTallyVetsTheFirstQuorum: fanoutVetted's tally vets the accepted answers only once
// they reach a quorum, all of them in one call; an answer that fails vetting no longer
// counts and the tally waits for the next one, which it vets alone; answers after the
// quorum are not vetted. With 4 equal validators the quorum is 3.
func TestTallyVetsTheFirstQuorum(t *testing.T) {
	_, m := fourMembers()
	committee, vs := m.committee, m.validators
	bad := errors.New("bad signature")
	var calls [][]int
	tl := tally[int]{committee: committee, ok: func(v int) bool { return v != 0 }, vet: func(vals []int) []error {
		calls = append(calls, slices.Clone(vals))
		errs := make([]error, len(vals))
		for i, v := range vals {
			if v < 0 {
				errs[i] = bad
			}
		}
		return errs
	}}
	// Validator 1's answer fails vetting; validator 2's is not accepted (0).
	steps := []struct {
		a    answer[int]
		want bool
	}{
		{answer[int]{v: vs[1], val: -1}, false},
		{answer[int]{v: vs[0], val: 1}, false},
		{answer[int]{v: vs[2], val: 0}, false},
		{answer[int]{v: vs[3], val: 3}, false}, // 3 accepted: vetted, one fails
	}
	for i, s := range steps {
		if got := tl.add(s.a); got != s.want {
			t.Fatalf("answer %d: reached = %v, want %v", i, got, s.want)
		}
	}
	if want := [][]int{{-1, 1, 3}}; !slices.EqualFunc(calls, want, slices.Equal) {
		t.Fatalf("vet calls %v, want %v", calls, want)
	}
	// A late answer of another validator (a repeat of validator 2's, for the test)
	// completes the quorum: only it is vetted.
	if !tl.add(answer[int]{v: vs[2], val: 2}) {
		t.Fatal("quorum not reached with three good answers")
	}
	if want := [][]int{{-1, 1, 3}, {2}}; !slices.EqualFunc(calls, want, slices.Equal) {
		t.Fatalf("vet calls %v, want %v", calls, want)
	}
	// After the quorum: not vetted.
	tl.add(answer[int]{v: vs[0], val: 4})
	out := tl.done()
	if len(calls) != 2 {
		t.Fatalf("vet called after the quorum: %v", calls)
	}
	var vetted []int
	for _, a := range out {
		if a.vetted {
			vetted = append(vetted, a.val)
		}
	}
	if !slices.Equal(vetted, []int{1, 3, 2}) {
		t.Fatalf("vetted answers %v, want [1 3 2]", vetted)
	}
	if !errors.Is(out[0].err, bad) {
		t.Fatalf("the failed answer's error is %v, want the vetting error", out[0].err)
	}
}

// TestTallyVetsWithoutQuorum: without a quorum, done vets what was accepted, so that
// the caller counts only vetted answers.
func TestTallyVetsWithoutQuorum(t *testing.T) {
	keys := prototest.Validators(4)
	committee := prototest.Committee(keys)
	var calls int
	tl := tally[int]{committee: committee, vet: func(vals []int) []error {
		calls++
		return make([]error, len(vals))
	}}
	tl.add(answer[int]{v: Validator{PublicKey: keys[0].Public()}, val: 1})
	tl.add(answer[int]{v: Validator{PublicKey: keys[1].Public()}, err: errors.New("refused")})
	out := tl.done()
	if calls != 1 || !out[0].vetted || out[1].vetted {
		t.Fatalf("vet calls %d, vetted %v %v; want 1 call vetting the accepted answer only", calls, out[0].vetted, out[1].vetted)
	}
}
