package execution

import (
	"context"
	"reflect"
	"testing"
	"unsafe"

	"github.com/micachain/mica/internal/views"
)

// notViews lists the fields of State that hold no staged changes of their own, with the
// reason. A field added to State must be a view (checked below) or be listed here.
var notViews = map[string]string{
	"vc":            "the context the views are made in",
	"loader":        "how applications are loaded",
	"logger":        "logging",
	"apps":          "application stores: dirty() is covered by HasPendingChanges and TakeChanges, and TestTakeChangesPutChanges",
	"appCache":      "the budget of the clean values apps cache (TestAppStoreCacheModel, TestAppCacheExactThroughBlocks)",
	"chainID":       "decoded cache of description",
	"chainsOpened":  "per-block counter, reset by BeginBlock",
	"blockFuel":     "per-block counter, reset by BeginBlock",
	"blockBlobs":    "per-block list, reset by BeginBlock",
	"systemWritten": "per-block counter, reset by BeginBlock",
	"spare":         "reused transaction memory",
}

// TestEveryViewTakenAndPut: a change staged in any view of the execution state shows in
// HasPendingChanges, is taken out by TakeChanges and staged again by PutChanges. The
// views are found by reflection, so a view added later and forgotten in one of the
// three (which would let a detached execution leave changes on a chain's kept state, or
// lose them from its certificate) fails here.
func TestEveryViewTakenAndPut(t *testing.T) {
	n := newNet(t)
	viewType := reflect.TypeFor[views.View]()
	st := reflect.TypeFor[State]()
	checked := 0
	for i := range st.NumField() {
		name := st.Field(i).Name
		if _, ok := notViews[name]; ok {
			continue
		}
		if !st.Field(i).Type.Implements(viewType) {
			t.Errorf("State.%s (%s) is neither a view nor listed in notViews", name, st.Field(i).Type)
			continue
		}
		s, _ := userChain(t, n)
		if s.HasPendingChanges() {
			t.Fatal("a fresh state has pending changes")
		}
		f := st.Field(i)
		fv := reflect.NewAt(f.Type, unsafe.Pointer(reflect.ValueOf(s).Elem().Field(i).UnsafeAddr())).Elem()
		if !stageView(t, fv) {
			t.Errorf("State.%s: no way to stage a change in %s; teach stageView", name, f.Type)
			continue
		}
		checked++
		if !s.HasPendingChanges() {
			t.Errorf("a change staged in State.%s does not show in HasPendingChanges", name)
			continue
		}
		c := s.TakeChanges()
		if fv.Interface().(views.View).HasPendingChanges() || s.HasPendingChanges() {
			t.Errorf("TakeChanges left the change staged in State.%s", name)
			continue
		}
		if err := s.PutChanges(c); err != nil {
			t.Fatal(err)
		}
		if !fv.Interface().(views.View).HasPendingChanges() {
			t.Errorf("PutChanges did not stage State.%s's change again", name)
		}
	}
	if checked < 10 {
		t.Errorf("only %d views checked", checked)
	}
}

// stageView stages a change in view v by the first staging method it has, with zero
// arguments (a context where one is asked for).
func stageView(t *testing.T, v reflect.Value) bool {
	t.Helper()
	for _, name := range []string{"Set", "Put", "PushBack", "Append"} {
		m := v.MethodByName(name)
		if !m.IsValid() {
			continue
		}
		in := make([]reflect.Value, m.Type().NumIn())
		for i := range in {
			if at := m.Type().In(i); at == reflect.TypeFor[context.Context]() {
				in[i] = reflect.ValueOf(context.Background())
			} else {
				in[i] = reflect.New(at).Elem()
			}
		}
		for _, out := range m.Call(in) {
			if err, ok := out.Interface().(error); ok && err != nil {
				t.Fatalf("stage a change by %s on %s: %v", name, v.Type(), err)
			}
		}
		return true
	}
	return false
}
