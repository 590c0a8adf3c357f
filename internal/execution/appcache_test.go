package execution

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/kv/memkv"
	"github.com/micachain/mica/internal/views"
)

// checkCache fails unless every value a's cache holds is the store's (absent included)
// and returns the entries and bytes it counts.
func checkCache(t *testing.T, a *appStore, st kv.Reader, when string) (entries, size int) {
	t.Helper()
	if a.cacheGen != a.budget.gen {
		return 0, 0
	}
	for k, v := range a.cache {
		got, ok, err := st.Get(bg, a.full([]byte(k)))
		if err != nil {
			t.Fatal(err)
		}
		if ok != (v != nil) || !bytes.Equal(got, v) {
			t.Fatalf("%s: key %q cached as %.32q (present %v), stored %.32q (present %v)", when, k, v, v != nil, got, ok)
		}
		entries++
		size += len(k) + len(v)
	}
	return entries, size
}

// checkBudget fails unless the budget counts exactly what the stores' caches hold, within
// the bounds.
func checkBudget(t *testing.T, budget *appCache, st kv.Reader, when string, stores ...*appStore) {
	t.Helper()
	entries, size := 0, 0
	for _, a := range stores {
		e, s := checkCache(t, a, st, when)
		entries += e
		size += s
	}
	if entries != budget.entries || size != budget.bytes {
		t.Fatalf("%s: caches hold %d entries of %d bytes, the budget counts %d and %d", when, entries, size, budget.entries, budget.bytes)
	}
	if entries > appCacheEntries || size > appCacheBytes {
		t.Fatalf("%s: caches hold %d entries of %d bytes, over the bounds", when, entries, size)
	}
}

// TestAppStoreCacheModel: two application stores sharing one budget go through many
// blocks of random reads and writes (puts, deletes, prefix deletions, values from empty to
// over the byte bound), each block ending as the execution layer ends them: committed and
// written, rolled back (a refused proposal), taken and put back before the commit (a
// detached execution and its certificate), or taken and dropped (a refusal after
// staging). Every read answers as a store without a cache over the same staged changes,
// and after every block each cached value is the store's and the budget counts them.
func TestAppStoreCacheModel(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 77))
			st := memkv.New()
			budget := &appCache{}
			var stores []*appStore
			var vcs []views.Context
			for i := range 2 {
				vc := views.NewContext(st, []byte(fmt.Sprintf("app%d/", i)))
				vcs = append(vcs, vc)
				stores = append(stores, newAppStore(vc, budget))
			}
			key := func() []byte { return []byte(fmt.Sprintf("%c%d", 'a'+r.IntN(3), r.IntN(120))) }
			value := func() []byte {
				switch n := r.IntN(100); {
				case n < 2:
					return make([]byte, appCacheBytes+1) // never cached
				case n < 10:
					return bytes.Repeat([]byte{byte(n)}, 2000+r.IntN(3000))
				case n < 15:
					return []byte{}
				default:
					return []byte(fmt.Sprintf("v%d", r.IntN(1000)))
				}
			}
			gens := budget.gen
			for block := range 400 {
				staged := make([][]*kv.Batch, len(stores))
				// A reference without a cache: a fresh store with the same staged batches.
				reference := func(i int) *appStore {
					ref := newAppStore(vcs[i], &appCache{})
					for _, b := range staged[i] {
						if err := ref.apply(b); err != nil {
							t.Fatal(err)
						}
					}
					return ref
				}
				for step := range 6 {
					i := r.IntN(len(stores))
					a := stores[i]
					switch r.IntN(3) {
					case 0:
						k := key()
						v, ok, err := a.get(bg, k)
						if err != nil {
							t.Fatal(err)
						}
						wv, wok, _ := reference(i).get(bg, k)
						if ok != wok || !bytes.Equal(v, wv) {
							t.Fatalf("block %d step %d: get %q = %.32q %v, want %.32q %v", block, step, k, v, ok, wv, wok)
						}
					case 1:
						keys := [][]byte{key(), key(), key()}
						vs, err := a.multiGet(bg, keys)
						if err != nil {
							t.Fatal(err)
						}
						ws, _ := reference(i).multiGet(bg, keys)
						for j := range keys {
							if (vs[j] == nil) != (ws[j] == nil) || !bytes.Equal(vs[j], ws[j]) {
								t.Fatalf("block %d step %d: multiGet %q = %.32q, want %.32q", block, step, keys[j], vs[j], ws[j])
							}
						}
						if len(vs[0]) > 0 {
							vs[0][0]++ // the caller owns what it read: the cache must not change
						}
					default:
						var b kv.Batch
						for range 1 + r.IntN(3) {
							switch r.IntN(10) {
							case 0:
								b.DeletePrefix([]byte{byte('a' + r.IntN(3))})
							case 1, 2:
								b.Delete(key())
							default:
								b.Put(key(), value())
							}
						}
						if err := a.apply(&b); err != nil {
							t.Fatal(err)
						}
						staged[i] = append(staged[i], &b)
					}
				}
				var out kv.Batch
				how := r.IntN(4)
				for _, a := range stores {
					switch how {
					case 0: // committed
						a.emit(&out)
						a.commit()
					case 1: // refused
						a.rollback()
					case 2: // executed detached, then certified
						c := a.take()
						a.put(c)
						a.emit(&out)
						a.commit()
					case 3: // refused after staging
						_ = a.take()
					}
				}
				if err := st.Write(bg, &out); err != nil {
					t.Fatal(err)
				}
				checkBudget(t, budget, st, fmt.Sprintf("block %d (end %d)", block, how), stores...)
			}
			if budget.gen == gens {
				t.Fatal("the caches never reached the bounds: the test does not test eviction")
			}
		})
	}
}

// TestAppCacheExactThroughBlocks: a chain's kept execution state runs many blocks of a
// counter application (increments, a value rewritten with a large one, calls to a second
// application), some refused (rolled back), some taken out and put back before being
// written (a detached execution and its certificate), some taken out and dropped. After
// every block each application's cached values are the store's, and the kept state
// answers as a state loaded afresh.
func TestAppCacheExactThroughBlocks(t *testing.T) {
	n, _, s, id := appNet(t)
	r := rand.New(rand.NewPCG(5, 6))
	var want uint64
	for block := range 200 {
		var tx []byte
		add := uint64(0)
		switch r.IntN(4) {
		case 0:
			tx = op('w', le(uint64(r.IntN(3000))))
		case 1:
			tx = op('c', appB[:], le(2))
		default:
			add = uint64(1 + r.IntN(5))
			tx = op('i', le(add))
		}
		mustExec(t, s, tc(id, &alice), userTx(appA, tx), nil)
		switch end := r.IntN(4); end {
		case 0:
			s.Rollback()
			add = 0
		case 1:
			_ = s.TakeChanges()
			add = 0
		case 2:
			c := s.TakeChanges()
			if err := s.PutChanges(c); err != nil {
				t.Fatal(err)
			}
			n.commit(s)
		default:
			n.commit(s)
		}
		want += add
		var stores []*appStore
		for _, a := range s.apps {
			stores = append(stores, a)
		}
		checkBudget(t, &s.appCache, n.store, fmt.Sprintf("block %d", block), stores...)
		fresh := n.load(id)
		for _, app := range []base.ApplicationID{appA, appB} {
			if got, reload := dumpApp(t, s, app), dumpApp(t, fresh, app); got != reload {
				t.Fatalf("block %d: application %s reads\n%s\nloaded afresh:\n%s", block, app, got, reload)
			}
		}
	}
	if got := counterValue(t, s, id, appA); got != want {
		t.Fatalf("counter %d, want %d", got, want)
	}
	if s.apps[appA].cacheGen != s.appCache.gen || len(s.apps[appA].cache) == 0 {
		t.Fatal("the counter's value is not cached")
	}
}

// dumpApp reads the keys the counter application uses, through s.
func dumpApp(t *testing.T, s *State, app base.ApplicationID) string {
	t.Helper()
	a := s.appStorage(app)
	var out []string
	for _, k := range []string{"n", "resp", "big", "none"} {
		v, ok, err := a.get(bg, []byte(k))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s=%x/%v", k, v, ok))
	}
	vs, err := a.multiGet(bg, [][]byte{[]byte("n"), []byte("none")})
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, fmt.Sprintf("multi=%x", vs))
	return strings.Join(out, " ")
}

// countingReader counts the reads of keys under prefix.
type countingReader struct {
	kv.Reader
	prefix []byte
	reads  int
}

func (c *countingReader) count(key []byte) {
	if bytes.HasPrefix(key, c.prefix) {
		c.reads++
	}
}

func (c *countingReader) Get(ctx context.Context, key []byte) ([]byte, bool, error) {
	c.count(key)
	return c.Reader.Get(ctx, key)
}

func (c *countingReader) MultiGet(ctx context.Context, keys [][]byte) ([][]byte, error) {
	for _, k := range keys {
		c.count(k)
	}
	return c.Reader.MultiGet(ctx, keys)
}

// TestKeptStateReadsAppStorageOnce: a chain state kept across blocks of counter
// increments reads the counter's stored value once, not once per block, whether the
// blocks are committed, refused or executed detached and then committed.
func TestKeptStateReadsAppStorageOnce(t *testing.T) {
	n, _, _, id := appNet(t)
	r := &countingReader{Reader: n.store, prefix: append(bytes.Clone(n.prefix(id)), tagApplications)}
	s := NewState(views.NewContext(r, n.prefix(id)), WithLoader(n.loader))
	for block := range 30 {
		mustExec(t, s, tc(id, &alice), userTx(appA, op('i', le(1))), nil)
		switch block % 3 {
		case 0:
			n.commit(s)
		case 1:
			s.Rollback()
		case 2:
			c := s.TakeChanges()
			if err := s.PutChanges(c); err != nil {
				t.Fatal(err)
			}
			n.commit(s)
		}
	}
	if got := counterValue(t, s, id, appA); got != 20 {
		t.Fatalf("counter %d, want 20", got)
	}
	if r.reads != 1 {
		t.Fatalf("the application's storage was read %d times in 30 blocks, want once", r.reads)
	}
}
