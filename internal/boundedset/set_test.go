package boundedset

import (
	"fmt"
	"sync"
	"testing"
)

// members returns which of 0..n-1 are in s, as a string of 0/1.
func members(s *Set[int], n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0'
		if s.Has(i) {
			b[i] = '1'
		}
	}
	return string(b)
}

func TestSet(t *testing.T) {
	for _, tc := range []struct {
		name     string
		capacity int
		adds     []int
		want     string // members of 0..7
	}{
		{"empty", 3, nil, "00000000"},
		{"under capacity", 3, []int{1, 4}, "01001000"},
		{"full", 3, []int{1, 4, 2}, "01101000"},
		{"oldest forgotten first", 3, []int{1, 4, 2, 5, 6}, "00100110"},
		{"wraps around more than once", 3, []int{0, 1, 2, 3, 4, 5, 6, 7}, "00000111"},
		{"re-adding keeps the age", 3, []int{1, 4, 1, 2, 5}, "00101100"},
		{"capacity one", 1, []int{3, 2}, "00100000"},
		{"capacity below one means one", 0, []int{3, 2}, "00100000"},
		{"negative capacity means one", -4, []int{3}, "00010000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New[int](tc.capacity)
			for _, k := range tc.adds {
				s.Add(k)
			}
			if got := members(s, 8); got != tc.want {
				t.Fatalf("members %s, want %s", got, tc.want)
			}
			ones := 0
			for _, c := range tc.want {
				if c == '1' {
					ones++
				}
			}
			if s.Len() != ones {
				t.Fatalf("Len %d, want %d", s.Len(), ones)
			}
		})
	}
}

// TestSetBounded: however many keys are added, the set holds the last capacity ones.
func TestSetBounded(t *testing.T) {
	const capacity = 100
	s := New[string](capacity)
	for i := range 10 * capacity {
		s.Add(fmt.Sprint(i))
		if s.Len() > capacity {
			t.Fatalf("after %d adds: %d keys", i+1, s.Len())
		}
	}
	for i := range 10 * capacity {
		if want := i >= 9*capacity; s.Has(fmt.Sprint(i)) != want {
			t.Fatalf("key %d: in the set %v, want %v", i, !want, want)
		}
	}
}

// TestSetConcurrent is for the race detector: adds and lookups from many goroutines.
func TestSetConcurrent(t *testing.T) {
	s := New[int](64)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				s.Add(g*1000 + i)
				s.Has(i)
			}
		}()
	}
	wg.Wait()
	if s.Len() != 64 {
		t.Fatalf("Len %d, want 64", s.Len())
	}
}
