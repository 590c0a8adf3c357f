// Package webuitest starts a headless Chromium for tests of the node
// service's pages and records what the pages ask of the network.
//
// The browser is Debian's chromium, found through MICA_TEST_CHROMIUM (CI sets
// it, and then a browser that cannot start fails the test) or on the PATH; a
// test is skipped only when the variable is unset and no browser is found.
// Only tests import this package.
package webuitest

import (
	"context"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// EnvChromium names the browser binary to use. When it is set, a browser
// that does not start fails the test instead of skipping it.
const EnvChromium = "MICA_TEST_CHROMIUM"

// findBrowser returns the browser to use and whether the environment asked
// for it explicitly.
func findBrowser() (path string, required bool) {
	if p := os.Getenv(EnvChromium); p != "" {
		return p, true
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, false
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", false
	}
	return "", false
}

// Browser is one headless browser tab and the record of its traffic.
type Browser struct {
	// Ctx runs actions in the tab (chromedp.Run, chromedp.Do).
	Ctx context.Context
	Log *RequestLog
}

// Start launches a headless Chromium with a fresh profile and opens one tab;
// the browser stops when the test ends. Every request and WebSocket the tab
// opens is recorded in Log from the start.
func Start(t testing.TB, timeout time.Duration) *Browser {
	t.Helper()
	path, required := findBrowser()
	if path == "" {
		t.Skipf("headless browser test skipped: %s is unset and no chromium was found on the PATH (apt-get install chromium; .ci/run installs it and sets %s)", EnvChromium, EnvChromium)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root in CI containers
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
	}
	base, cancelTimeout := context.WithTimeout(context.Background(), timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(base, opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		cancelTimeout()
	})
	rl := &RequestLog{}
	// Listen starts the browser and opens the tab: the first step that can
	// fail because the browser is missing or broken.
	if err := chromedp.Listen(ctx, rl.record); err != nil {
		if required {
			t.Fatalf("start %s (from %s): %v", path, EnvChromium, err)
		}
		t.Skipf("headless browser test skipped: chromium at %s did not start (%v); set %s to make this a failure", path, err, EnvChromium)
	}
	return &Browser{Ctx: ctx, Log: rl}
}

// RequestLog records the URL of every request and WebSocket of a tab, and the
// page's errors (exceptions, console errors, CSP violations). It is safe for
// concurrent use.
type RequestLog struct {
	mu       sync.Mutex
	urls     []string
	problems []string
}

func (l *RequestLog) record(ev any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch e := ev.(type) {
	case *network.EventRequestWillBeSent:
		if e.Request != nil {
			l.urls = append(l.urls, e.Request.URL)
		}
	case *network.EventWebSocketCreated:
		l.urls = append(l.urls, e.URL)
	case *runtime.EventExceptionThrown:
		if e.ExceptionDetails != nil {
			msg := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
			l.problems = append(l.problems, "exception: "+msg)
		}
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError {
			var parts []string
			for _, a := range e.Args {
				if a.Description != "" {
					parts = append(parts, a.Description)
				} else {
					parts = append(parts, string(a.Value))
				}
			}
			l.problems = append(l.problems, "console.error: "+strings.Join(parts, " "))
		}
	case *log.EventEntryAdded:
		if e.Entry != nil && e.Entry.Level == log.EntryLevelError {
			l.problems = append(l.problems, "log ("+string(e.Entry.Source)+"): "+e.Entry.Text+" "+e.Entry.URL)
		}
	}
}

// URLs returns every URL the tab asked for so far.
func (l *RequestLog) URLs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.urls...)
}

// Problems returns the page errors seen so far.
func (l *RequestLog) Problems() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.problems...)
}

// NonLoopback returns the URLs that went (or tried to go) to a host other
// than a loopback address or localhost. data:, blob: and about: URLs stay in
// the browser and are not counted.
func (l *RequestLog) NonLoopback() []string {
	var out []string
	for _, u := range l.URLs() {
		if !IsLocal(u) {
			out = append(out, u)
		}
	}
	return out
}

// IsLocal reports whether a URL stays on this machine: loopback hosts, or a
// scheme that never touches the network.
func IsLocal(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "data", "blob", "about", "chrome", "devtools":
		return true
	case "http", "https", "ws", "wss":
	default:
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckLocal fails the test when any request left loopback, and logs the
// page's errors either way.
func (l *RequestLog) CheckLocal(t testing.TB) {
	t.Helper()
	for _, p := range l.Problems() {
		t.Logf("page: %s", p)
	}
	if bad := l.NonLoopback(); len(bad) > 0 {
		t.Errorf("%d request(s) left loopback: %v", len(bad), bad)
	}
	if len(l.URLs()) == 0 {
		t.Errorf("the request log is empty: network events were not recorded")
	}
}
