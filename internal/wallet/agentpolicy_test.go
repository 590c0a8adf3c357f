package wallet

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/micachain/mica/internal/atomicfile"
	"github.com/micachain/mica/internal/base"
)

const (
	chainA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	chainB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	appA   = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
)

func amt(t *testing.T, s string) *base.Amount {
	t.Helper()
	a, err := base.ParseAmount(s)
	if err != nil {
		t.Fatal(err)
	}
	return &a
}

func TestAgentPolicyAbsentIsReadOnly(t *testing.T) {
	dir := t.TempDir()
	p, found, err := ReadAgentPolicy(dir)
	if err != nil || found {
		t.Fatalf("ReadAgentPolicy = %v, %v", found, err)
	}
	if err := p.CheckTransfer(*amt(t, "1"), chainA); !errors.Is(err, ErrAgentRefused) || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("transfer without a policy: %v", err)
	}
	if err := p.CheckApplication(appA, "mutation increment"); !errors.Is(err, ErrAgentRefused) {
		t.Fatalf("app mutation without a policy: %v", err)
	}
}

func TestAgentPolicyRoundTripAndMode(t *testing.T) {
	dir := t.TempDir()
	p := &AgentPolicy{PerTransfer: amt(t, "10"), PerDay: amt(t, "15.5"), AllowRecipients: []string{chainB, chainA, chainA}, AllowApplications: []string{appA}}
	if err := WriteAgentPolicy(dir, p); err != nil {
		t.Fatal(err)
	}
	if atomicfile.PermissionsEnforced() {
		fi, err := os.Stat(AgentPolicyPath(dir))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
		}
	}
	got, found, err := ReadAgentPolicy(dir)
	if err != nil || !found {
		t.Fatalf("read: %v %v", found, err)
	}
	if got.PerTransfer.String() != "10" || got.PerDay.String() != "15.5" || len(got.AllowRecipients) != 2 || got.AllowRecipients[0] != chainA || got.AllowApplications[0] != appA || got.ReadOnly {
		t.Fatalf("read back %+v", got)
	}
	if err := ClearAgentPolicy(dir); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := ReadAgentPolicy(dir); found {
		t.Fatal("policy still there after clear")
	}
}

func TestAgentPolicyChecks(t *testing.T) {
	owner := "0x" + strings.Repeat("11", 32)
	p := &AgentPolicy{PerTransfer: amt(t, "10"), AllowRecipients: []string{chainA, owner + "@" + chainB}}
	if err := p.Normalize(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		amount, to string
		ok         bool
		want       string
	}{
		{"10", chainA, true, ""},
		{"10.000000000000000001", chainA, false, "per-transfer limit 10"},
		{"50", chainA, false, "transfer of 50 exceeds the per-transfer limit 10"},
		{"1", owner + "@" + chainA, true, ""}, // any account on an allowed chain
		{"1", owner + "@" + chainB, true, ""},
		{"1", chainB, false, "recipient " + chainB + " is not allowed"},
		{"1", "0x" + strings.Repeat("22", 32) + "@" + chainB, false, "not allowed"},
	} {
		err := p.CheckTransfer(*amt(t, c.amount), c.to)
		if c.ok != (err == nil) || (err != nil && (!strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrAgentRefused) || !strings.Contains(err.Error(), "mica wallet agent-policy set"))) {
			t.Errorf("transfer %s to %s: %v", c.amount, c.to, err)
		}
	}
	if err := p.CheckApplication(appA, "mutation x"); err == nil || !strings.Contains(err.Error(), "--allow-application "+appA) {
		t.Errorf("app not allowed by empty list: %v", err)
	}
	p.AllowApplications = []string{AnyApplication}
	if err := p.CheckApplication(appA, "mutation x"); err != nil {
		t.Errorf("app with *: %v", err)
	}
	p.ReadOnly = true
	if err := p.CheckApplication(appA, "mutation x"); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("read-only app mutation: %v", err)
	}
}

func TestAgentPolicyMalformedFile(t *testing.T) {
	for name, content := range map[string]string{
		"not json":       "{",
		"unknown field":  `{"version":1,"per_transfr":"10"}`,
		"bad amount":     `{"version":1,"per_transfer":"-3"}`,
		"bad recipient":  `{"version":1,"allow_recipients":["bob"]}`,
		"bad app":        `{"version":1,"allow_applications":["counter"]}`,
		"wrong version":  `{"version":7}`,
		"trailing data":  `{"version":1} {}`,
		"no version":     `{}`,
		"array":          `[]`,
		"amount as num":  `{"version":1,"per_day":10}`,
		"huge":           `{"version":1,"allow_recipients":["` + strings.Repeat("a", maxAgentFile) + `"]}`,
		"overflow limit": `{"version":1,"per_day":"999999999999999999999999999999999999999999"}`,
	} {
		dir := t.TempDir()
		if err := os.WriteFile(AgentPolicyPath(dir), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := ReadAgentPolicy(dir)
		if err == nil || !strings.Contains(err.Error(), AgentPolicyPath(dir)) || !strings.Contains(err.Error(), "agent-policy clear") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestAgentLedgerPerDayAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	day := time.Date(2026, 12, 5, 23, 0, 0, 0, time.UTC)
	limit := amt(t, "10")
	l, err := OpenAgentLedger(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Reserve(day, *amt(t, "6"), limit); err != nil {
		t.Fatal(err)
	}
	// A restart keeps the day's spending.
	l, err = OpenAgentLedger(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Spent(day); got.String() != "6" {
		t.Fatalf("spent after restart = %s", got)
	}
	err = l.Reserve(day.Add(30*time.Minute), *amt(t, "5"), limit)
	if !errors.Is(err, ErrAgentRefused) || !strings.Contains(err.Error(), "per-day limit 10") || !strings.Contains(err.Error(), "6 already spent") || !strings.Contains(err.Error(), "4 left") {
		t.Fatalf("second transfer: %v", err)
	}
	if err := l.Reserve(day.Add(30*time.Minute), *amt(t, "4"), limit); err != nil {
		t.Fatalf("up to the limit: %v", err)
	}
	// The next UTC day starts from zero.
	next := day.Add(time.Hour + time.Minute)
	if got := l.Spent(next); !got.IsZero() {
		t.Fatalf("spent next day = %s", got)
	}
	if err := l.Reserve(next, *amt(t, "10"), limit); err != nil {
		t.Fatal(err)
	}
	// A time zone does not change the day: 00:30 in UTC+2 is still the previous UTC day.
	if got := l.Spent(next.In(time.FixedZone("x", 2*3600))); got.String() != "10" {
		t.Fatalf("spent in another zone = %s", got)
	}
}

func TestAgentLedgerMalformed(t *testing.T) {
	for name, content := range map[string]string{
		"not json":   "nope",
		"bad amount": `{"version":1,"day":"2026-12-05","spent":"x"}`,
		"bad day":    `{"version":1,"day":"yesterday","spent":"1"}`,
		"version":    `{"version":2,"day":"2026-12-05","spent":"1"}`,
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, agentSpendingFile), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenAgentLedger(dir); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "remove it") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzParseAgentPolicy(f *testing.F) {
	f.Add([]byte(`{"version":1,"per_transfer":"10","per_day":"100","allow_recipients":["` + chainA + `"],"allow_applications":["*"],"read_only":true}`))
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseAgentPolicy(b)
		if err != nil {
			return
		}
		out, err := p.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		q, err := ParseAgentPolicy(out)
		if err != nil {
			t.Fatalf("re-parse %s: %v", out, err)
		}
		again, _ := q.MarshalJSON()
		if string(again) != string(out) {
			t.Fatalf("not canonical: %s vs %s", out, again)
		}
	})
}
