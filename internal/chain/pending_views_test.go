package chain

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/views"
)

// notViews lists the fields of State that hold no staged changes, with the reason. A
// field added to State must be a view (checked below) or be listed here.
var notViews = map[string]string{
	"id":            "the chain's id, fixed",
	"outboxQueueVC": "the context outbox queues are made in",
	"inboxQueueVC":  "the context inbox queues are made in",
	"mgr":           "decoded cache of manager, staged through it by SetManager",
	"committees":    "cache of exec's committees",
	"execEmitted":   "flag: exec's staged changes are already in execBatch, which HasPendingChanges checks",
	"certs":         "reader of the store's certificates, fixed",
	"regMemo":       "cache of the certificate the register last compared its bundles with",

	"skipAnticipated": "flag: bundles received in anticipation are not recorded, fixed",

	"inboxListed":    "the inbox queues handed out since the last Flush (in inboxQueues)",
	"outboxListed":   "the outbox queues handed out since the last Flush (in outboxQueues)",
	"flushes":        "counter of Flushes, for the queues' recency",
	"maxQueues":      "bound on the loaded queues, fixed",
	"dropped":        "the queues the last Flush dropped, for checkListed (invariants build)",
	"pendingVersion": "counter of the changes to what is listed as pending, in memory",
}

// field returns v's field i, usable although unexported (v must be addressable).
func field(v reflect.Value, i int) reflect.Value {
	f := v.Field(i)
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
}

var viewType = reflect.TypeFor[views.View]()

// stage stages a change in the view v by the first of its staging methods it has
// (Register.Set, Map.Set, Queue.PushBack, kv.Batch.Put, Log.Append), or, for a view made
// of views (execution.State), in the first of its own fields that is one. It reports
// false if it knows no way.
func stage(t *testing.T, v reflect.Value) bool {
	t.Helper()
	ctx := reflect.ValueOf(context.Background())
	args := func(m reflect.Value) []reflect.Value {
		in := make([]reflect.Value, m.Type().NumIn())
		for i := range in {
			if at := m.Type().In(i); at == reflect.TypeFor[context.Context]() {
				in[i] = ctx
			} else {
				in[i] = reflect.New(at).Elem()
			}
		}
		return in
	}
	for _, name := range []string{"Set", "PushBack", "Put", "Append"} {
		if m := v.MethodByName(name); m.IsValid() {
			for _, out := range m.Call(args(m)) {
				if err, ok := out.Interface().(error); ok && err != nil {
					t.Fatalf("stage a change by %s on %s: %v", name, v.Type(), err)
				}
			}
			return true
		}
	}
	if v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct {
		s := v.Elem()
		for i := range s.NumField() {
			if f := field(s, i); f.Type().Implements(viewType) && !f.IsNil() && stage(t, f) {
				return true
			}
		}
	}
	return false
}

// TestHasPendingChangesCoversEveryView: a change staged in any view of a chain state,
// and of every queue of its outbox and inbox maps, shows in HasPendingChanges. The views
// are found by reflection over State's fields, so a view added later and forgotten in
// HasPendingChanges (or a field that is neither a view nor listed in notViews) fails
// here.
func TestHasPendingChangesCoversEveryView(t *testing.T) {
	ss := newStateStore(t)
	// fresh returns a clean state with one outbox queue and one inbox's queues.
	fresh := func() reflect.Value {
		s := ss.load()
		s.outboxQueue(base.ChainID{2})
		s.inboxQueuesOf(base.ChainID{3})
		if s.HasPendingChanges() {
			t.Fatal("a fresh state has pending changes")
		}
		return reflect.ValueOf(s).Elem()
	}
	st := fresh().Type()
	checked := 0
	for i := range st.NumField() {
		name := st.Field(i).Name
		if _, ok := notViews[name]; ok {
			continue
		}
		// views returns the views field i holds in state s: itself, or the values of a
		// map of views, or their fields for a map of structs of views.
		views := func(s reflect.Value) []reflect.Value {
			f := field(s, i)
			switch {
			case f.Type().Implements(viewType) || reflect.PointerTo(f.Type()) == reflect.TypeFor[*kv.Batch]():
				if f.Kind() != reflect.Pointer {
					f = f.Addr()
				}
				return []reflect.Value{f}
			case f.Kind() == reflect.Map:
				var out []reflect.Value
				it := f.MapRange()
				for it.Next() {
					e := it.Value()
					if e.Type().Implements(viewType) {
						out = append(out, e)
						continue
					}
					if e.Kind() == reflect.Pointer && e.Elem().Kind() == reflect.Struct {
						for j := range e.Elem().NumField() {
							if f := field(e.Elem(), j); f.Kind() == reflect.Pointer { // not a flag or an id
								out = append(out, f)
							}
						}
					}
				}
				return out
			}
			return nil
		}
		n := len(views(fresh()))
		if n == 0 {
			t.Errorf("State.%s (%s) is neither a view nor listed in notViews", name, st.Field(i).Type)
			continue
		}
		for k := range n {
			s := fresh()
			v := views(s)[k]
			if !stage(t, v) {
				t.Errorf("State.%s: no way to stage a change in %s; teach stage", name, v.Type())
				continue
			}
			checked++
			if !s.Addr().Interface().(*State).HasPendingChanges() {
				t.Errorf("a change staged in State.%s (%s) does not show in HasPendingChanges", name, v.Type())
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d views checked", checked)
	}
	t.Logf("%d views checked; not views: %s", checked, strings.Join(keys(notViews), ", "))
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
