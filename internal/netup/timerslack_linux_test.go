package netup

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/timerslack"
)

// TestValidatorTimerSlack starts a process as net up starts a validator (start) and
// checks that it runs with ValidatorTimerSlack while this process keeps its own (that
// every thread of such a child has it is timerslack.TestStartCommand's).
func TestValidatorTimerSlack(t *testing.T) {
	before, err := timerslack.Current()
	if err != nil {
		t.Fatal(err)
	}
	cat, err := exec.LookPath("cat")
	if err != nil {
		t.Skip("no cat(1) here")
	}
	logPath := filepath.Join(t.TempDir(), "child.log")
	p, err := start(cat, &ValidatorInfo{Name: "child"}, []string{"/proc/self/timerslack_ns"}, logPath, os.Environ(), true)
	if err != nil {
		t.Fatal(err)
	}
	<-p.done
	out, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if p.err != nil {
		t.Fatalf("child: %v\n%s", p.err, out)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatalf("child printed %q: %v", out, err)
	}
	if ns != ValidatorTimerSlack.Nanoseconds() {
		t.Fatalf("the child runs with timer slack %d ns, want %d", ns, ValidatorTimerSlack.Nanoseconds())
	}
	if after, _ := timerslack.Current(); after != before {
		t.Fatalf("this thread's timer slack changed from %s to %s", before, after)
	}
}
