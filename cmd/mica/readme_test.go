package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README, run as a newcomer would: TestReadmeInOrder runs every shell block of
// README.md in order, from the repository's root, in one bash session (so variables
// carry from block to block), with /tmp/ replaced by a fresh directory of the test, and
// checks each output the README states. Nothing is retried or edited. `git status` must
// be the same afterwards: what the commands write inside the repository (bin/mica,
// examples/*/build) is ignored. (It runs in the checkout rather than a copy so that
// `go build` reuses the build cache.)
//
// Markup, in README.md:
//   - `<!-- readme: skip REASON -->` before a block: not run (say why).
//   - `<!-- readme: background until "TEXT" -->` before a block: its lines run in the
//     background (a network, a server); the next block starts once their combined output
//     holds TEXT.
//   - `# → TEXT` at the end of a command line, or alone on the line after it: the
//     command's stdout must match TEXT, where `…` stands for any text.

// readmeStep is one command of the README.
type readmeStep struct {
	line       string // the command, continuation lines joined
	expect     string // the `# →` text, or ""
	background bool
	until      string // for the last command of a background block
	block      int
}

var (
	readmeFence  = regexp.MustCompile("(?s)(<!-- readme: ([^>]*?) -->\\s*)?```sh\\n(.*?)```")
	readmeUntil  = regexp.MustCompile(`^background until "([^"]+)"$`)
	readmeExpect = regexp.MustCompile(`\s+#\s*→\s*(.*)$`)
	readmeTmp    = regexp.MustCompile(`/tmp\b`) // /tmp, /tmp/...: the test's own directory
)

// readmeSteps parses the README's shell blocks into the commands to run.
func readmeSteps(t *testing.T, readme []byte) []readmeStep {
	t.Helper()
	var steps []readmeStep
	for bi, m := range readmeFence.FindAllSubmatch(readme, -1) {
		mark := strings.TrimSpace(string(m[2]))
		background, until := false, ""
		switch {
		case strings.HasPrefix(mark, "skip"):
			continue
		case mark == "":
		case readmeUntil.MatchString(mark):
			background, until = true, readmeUntil.FindStringSubmatch(mark)[1]
		default:
			t.Fatalf("README block %d: unknown marker %q", bi, mark)
		}
		var cur string
		first := len(steps)
		for _, l := range strings.Split(string(m[3]), "\n") {
			l = strings.TrimRight(l, " \t")
			if cur != "" {
				cur += "\n" + l
			} else {
				cur = l
			}
			if strings.HasSuffix(l, "\\") {
				continue
			}
			line := strings.TrimSpace(cur)
			cur = ""
			if line == "" {
				continue
			}
			if strings.HasPrefix(line, "#") {
				if e := readmeExpect.FindStringSubmatch(" " + line); e != nil && strings.HasPrefix(strings.TrimSpace(line[1:]), "→") {
					if len(steps) == first {
						t.Fatalf("README block %d: %q expects the output of no command", bi, line)
					}
					steps[len(steps)-1].expect = strings.TrimSpace(e[1])
				}
				continue
			}
			st := readmeStep{line: line, background: background, block: bi}
			if e := readmeExpect.FindStringSubmatchIndex(line); e != nil {
				st.expect = strings.TrimSpace(line[e[2]:e[3]])
				st.line = strings.TrimSpace(line[:e[0]])
			}
			steps = append(steps, st)
		}
		if background && len(steps) > first {
			steps[len(steps)-1].until = until
		}
	}
	return steps
}

// expectRegexp turns a `# →` text into a pattern: literal, with … matching anything.
func expectRegexp(s string) *regexp.Regexp {
	parts := strings.Split(s, "…")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return regexp.MustCompile("^" + strings.Join(parts, "(?s:.*)") + "$")
}

func TestReadmeParse(t *testing.T) {
	readme := []byte("x\n<!-- readme: skip make -->\n```sh\nmake test\n```\n" +
		"<!-- readme: background until \"READY\" -->\n```sh\nbin/mica net up   # in its own terminal\n```\n" +
		"```sh\nA=$(echo 1)\necho $A   # → 1\necho a \\\n  b\n# → a …\n# a comment\n```\n")
	steps := readmeSteps(t, readme)
	want := []readmeStep{
		{line: "bin/mica net up   # in its own terminal", background: true, until: "READY", block: 1},
		{line: "A=$(echo 1)", block: 2},
		{line: "echo $A", expect: "1", block: 2},
		{line: "echo a \\\n  b", expect: "a …", block: 2},
	}
	if fmt.Sprint(steps) != fmt.Sprint(want) {
		t.Fatalf("steps:\n%v\nwant\n%v", steps, want)
	}
	if !expectRegexp("a …").MatchString("a b c") || expectRegexp("a …").MatchString("b a") || !expectRegexp(`{"x":1}`).MatchString(`{"x":1}`) {
		t.Fatal("expectRegexp")
	}
}

// gitStatus returns `git status --porcelain` of the repository at dir.
func gitStatus(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", dir, "status", "--porcelain").CombinedOutput()
	if err != nil {
		t.Skipf("not a git checkout: %v %s", err, out)
	}
	return string(out)
}

func TestReadmeInOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole README (minutes)")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	steps := readmeSteps(t, readme)
	// The directory stays when the test fails, for the steps' outputs (out.N).
	dir, err := os.MkdirTemp("", "mica-readme-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			_ = os.RemoveAll(dir)
		} else {
			t.Logf("the steps' outputs are in %s", dir)
		}
	})
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	statusBefore := gitStatus(t, repo)
	tmp := filepath.Join(dir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}

	// One bash session runs every step; each step's stdout goes to its own file, its
	// stderr to the session's. A background step's output is polled for its TEXT.
	var sc strings.Builder
	sc.WriteString("set -eo pipefail\ncd " + repo + "\n")
	// readme_wait FILE TEXT PID: wait until FILE holds TEXT; fail if the job PID ends
	// first or after 10 minutes (the first `go build` compiles the whole module).
	sc.WriteString(`readme_wait() {
  local end=$(( $(date +%s) + 600 ))
  while ! grep -q -- "$2" "$1" 2>/dev/null; do
    if ! kill -0 "$3" 2>/dev/null; then echo "the background job ended before printing $2:" >&2; cat "$1" >&2; return 1; fi
    if [ "$(date +%s)" -gt "$end" ]; then echo "timed out waiting for $2:" >&2; cat "$1" >&2; return 1; fi
    sleep 0.2
  done
}
`)
	for i := 0; i < len(steps); i++ {
		st := steps[i]
		outFile := filepath.Join(dir, fmt.Sprintf("out.%d", i))
		// Each step's line says when it started (seconds into the session).
		fmt.Fprintf(&sc, "echo \"[${SECONDS}s]\" %s >&2\n", shellQuote(fmt.Sprintf("::step %d: %s", i, strings.ReplaceAll(st.line, "\n", " "))))
		if !st.background {
			fmt.Fprintf(&sc, "{ %s\n} >%s\n", readmeTmp.ReplaceAllLiteralString(st.line, tmp), outFile)
			continue
		}
		// A background block runs as one job (its lines in order, as in a terminal of
		// its own); the session goes on once the job's output holds the block's TEXT.
		var lines []string
		for ; i < len(steps) && steps[i].block == st.block; i++ {
			lines = append(lines, readmeTmp.ReplaceAllLiteralString(steps[i].line, tmp))
		}
		i--
		fmt.Fprintf(&sc, "( %s\n) >%s 2>&1 &\nreadme_wait %s %q $!\n", strings.Join(lines, "\n"), outFile, outFile, steps[i].until)
	}
	sc.WriteString("echo \"[${SECONDS}s] ::done\" >&2\n")
	script := filepath.Join(dir, "readme.sh")
	if err := os.WriteFile(script, []byte(sc.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	// The user's settings (MICA_*) stay out, but for the cache of compiled modules: the
	// README's networks and wallets share the package's, where the other tests compiled
	// the same examples.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MICA_") || strings.HasPrefix(kv, "MICA_WASM_CACHE=") {
			env = append(env, kv)
		}
	}
	session := startShellSession(t, script, env)
	// Before the session stops (cleanups run last first), stop every network the README
	// ran: net down stops its validators cleanly.
	t.Cleanup(func() {
		nets, _ := filepath.Glob(filepath.Join(tmp, "*", "network.json"))
		for _, n := range nets {
			_ = exec.Command(binary, "net", "down", "--path", filepath.Dir(n)).Run()
		}
	})
	runErr := session.wait()
	if stderr := session.stderr.String(); runErr != nil || !strings.Contains(stderr, "::done") {
		t.Fatalf("the README failed (%v); the last step run is the one that failed:\n%s", runErr, tail(stderr, 60))
	}
	var starts []string // when each step started, for finding the slow ones (go test -v)
	for _, l := range strings.Split(session.stderr.String(), "\n") {
		if strings.Contains(l, "s] ::") {
			starts = append(starts, l)
		}
	}
	t.Logf("the README's steps:\n%s", strings.Join(starts, "\n"))
	for i, st := range steps {
		if st.expect == "" {
			continue
		}
		got, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("out.%d", i)))
		if !expectRegexp(st.expect).Match(bytes.TrimSpace(got)) {
			t.Errorf("README step %d `%s`: printed %q, the README says %q", i, st.line, bytes.TrimSpace(got), st.expect)
		}
	}
	if after := gitStatus(t, repo); after != statusBefore {
		t.Errorf("the README's commands changed what git status shows:\nbefore:\n%s\nafter:\n%s", statusBefore, after)
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
