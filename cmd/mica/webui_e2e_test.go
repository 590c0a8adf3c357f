package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/nodeservice/webui/webuitest"
)

// TestWebWalletInBrowser: headless Chromium against `mica service` on a real
// `mica net up`: the wallet page shows the balances, a transfer made through
// its form lands, the new blocks (the sender's, and the recipient's that
// receives it) appear live by subscription without a reload, the block view
// shows the decoded operation, and GraphiQL loads from the binary's own
// assets. No request of the browser leaves loopback.
func TestWebWalletInBrowser(t *testing.T) {
	dir := t.TempDir()
	net := netUp(t, filepath.Join(dir, "net"), "--initial-chains", "1")
	w := net.info.Wallet
	a := walletChain(t, w)
	var b string
	for _, id := range regexp.MustCompile(`"chainId": "([0-9a-f]{64})"`).FindAllStringSubmatch(mustMica(t, w, "wallet", "show", "--json"), -1) {
		if id[1] != a {
			b = id[1]
		}
	}
	if b == "" {
		t.Fatal("the network wallet has one chain; want two")
	}
	// An application on the default chain, for its GraphiQL link (building
	// the Wasm guest takes a while: not in -short runs).
	app := ""
	if !testing.Short() {
		example := filepath.Join(dir, "examples")
		if err := os.CopyFS(example, os.DirFS("../../examples")); err != nil {
			t.Fatal(err)
		}
		if err := os.CopyFS(filepath.Join(dir, "sdk"), os.DirFS("../../sdk")); err != nil {
			t.Fatal(err)
		}
		paths := strings.Fields(mustMica(t, filepath.Join(dir, "nowallet"), "project", "build", filepath.Join(example, "counter")))
		if len(paths) != 2 {
			t.Fatalf("project build printed %q", paths)
		}
		app = mustMica(t, w, "publish-and-create", paths[0], paths[1], "--json-argument", "7")
	}
	balA := mustMica(t, w, "local-balance", a)
	balB := mustMica(t, w, "local-balance", b)
	// With a token, as a user who shares the machine would run it: mutations
	// and subscriptions need it; the page gets it once from ?token=.
	token := "webui-e2e-token-0123456789"
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := startService(t, w, "--process-inbox", "--token-file", tokenFile).url

	br := webuitest.Start(t, 3*time.Minute)
	ctx := br.Ctx
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			for _, p := range br.Log.Problems() {
				t.Logf("page: %s", p)
			}
			if html, herr := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main:not([hidden])"))); herr == nil {
				t.Logf("visible main:\n%s", html)
			}
			t.Fatalf("%s: %v", what, err)
		}
	}
	waitText := func(sel, want string) {
		t.Helper()
		js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.textContent.includes(%q); })()`, sel, want)
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
		must(fmt.Sprintf("wait for %s to show %q", sel, want), err)
	}
	waitExact := func(sel, want string) {
		t.Helper()
		js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.textContent.trim() === %q; })()`, sel, want)
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
		must(fmt.Sprintf("wait for %s to be %q", sel, want), err)
	}

	// A wrong token: the page says so instead of showing stale or no data.
	must("open with a wrong token", chromedp.Do(ctx, chromedp.Navigate(url+"/wallet/?token=not-the-token")))
	waitText("#page-error", "token")
	waitText("#live-status", "refused")
	must("open the wallet", chromedp.Do(ctx, chromedp.Navigate(url+"/wallet/?token="+token)))
	waitExact("#balance-"+a, balA)
	waitExact("#balance-"+b, balB)
	waitText("#live-status", "Live")
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`performance.getEntriesByName("mica-wallet-shown")[0].startTime`))
	must("wallet shown mark", err)
	t.Logf("wallet page: balances on screen %.0f ms after navigation", shown)
	must("mark the page", chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.__notReloaded = true`)))

	// A bad amount is refused in the page; the chain does not move.
	must("bad amount", chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("transfer-from"), a),
		chromedp.SendKeys(chromedp.ID("transfer-recipient"), b),
		chromedp.SendKeys(chromedp.ID("transfer-amount"), "-3"),
		chromedp.Click(chromedp.ID("transfer-submit"))))
	waitText("#transfer-error", "positive decimal number")

	// The transfer through the form. The page times it (not asserted; the
	// figures are in docs/PERFORMANCE.md): click to the node's answer, and
	// click to the recipient's block shown live.
	must("timing hooks", chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		const t = window.__timing = {};
		document.getElementById("transfer-submit").addEventListener("click", () => { t.click = performance.now(); }, { capture: true });
		new MutationObserver(() => {
			if (t.click === undefined) return;
			const now = performance.now();
			if (t.answer === undefined && document.getElementById("transfer-result").textContent.includes("Sent 7")) t.answer = now - t.click;
			if (t.live === undefined && document.querySelector('#activity li[data-chain=%q]')) t.live = now - t.click;
		}).observe(document.body, { subtree: true, childList: true, characterData: true });
	})()`, b))))
	must("transfer", chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("transfer-amount"), "7"),
		chromedp.Click(chromedp.ID("transfer-submit"))))
	waitText("#transfer-result", "Sent 7")
	// (The CLI cannot read the wallet while the service holds its store: the
	// page's own figures are checked, against amounts read before.)
	wantA, err := shiftAmount(balA, "7", false)
	must("subtract", err)
	waitExact("#balance-"+a, wantA)
	// Live: the sender's new block, then the recipient's block that accepts
	// the transfer (the service processes inboxes), with the incoming transfer.
	waitText("#activity", "New block")
	waitText(`#activity li[data-chain="`+b+`"]`, "New block")
	waitText("#incoming", "received from")
	wantB, err := shiftAmount(balB, "7", true)
	must("add", err)
	waitExact("#balance-"+b, wantB)
	timing, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]float64](`window.__timing`))
	must("timing", err)
	t.Logf("transfer through the form: node's answer after %.0f ms, recipient's block shown live after %.0f ms", timing["answer"], timing["live"])
	still, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__notReloaded === true`))
	must("reload check", err)
	if !still {
		t.Errorf("the page reloaded to show the new blocks")
	}

	// The block view of the sender's block decodes the transfer.
	link, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#activity li[data-chain="`+a+`"] a.block-link`), "href"))
	must("block link", err)
	must("open the block", chromedp.Do(ctx, chromedp.Navigate(url+"/wallet/"+link.Value)))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll("#block-operations-body tr.operation").length > 0`, chromedp.WithPollingTimeout(30*time.Second)))
	must("decoded operations", err)
	summary, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#block-operations-body tr.operation .op-summary")))
	must("operation summary", err)
	if !strings.Contains(summary, "7") {
		t.Errorf("the transfer's summary does not name its amount: %q", summary)
	}
	t.Logf("decoded operation: %q", summary)

	// The application's GraphiQL, from its link in the chain panel: the page
	// loads the guest's schema and runs a query there.
	if app != "" {
		appPath := "/chains/" + a + "/applications/" + app
		must("back to the wallet", chromedp.Do(ctx, chromedp.Navigate(url+"/wallet/")))
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!document.querySelector('#applications li[data-application] a.graphiql-link')`, chromedp.WithPollingTimeout(30*time.Second)))
		must("applications listed", err)
		href, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`#applications li[data-application="`+app+`"] a.graphiql-link`), "href"))
		must("application link", err)
		if href.Value != appPath {
			t.Errorf("application link %q, want %q", href.Value, appPath)
		}
		// RunResponse waits for the navigation the click starts.
		_, err = chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`#applications li[data-application="`+app+`"] a.graphiql-link`)))
		must("open the application's GraphiQL", err)
		_, err = chromedp.Run(ctx, chromedp.Poll[bool](`!!document.querySelector(".graphiql-container .CodeMirror")`, chromedp.WithPollingTimeout(30*time.Second)))
		must("application GraphiQL editor", err)
		loc, err := chromedp.Run(ctx, chromedp.Location())
		must("location", err)
		if !strings.HasSuffix(loc, appPath) {
			t.Errorf("the link opened %s", loc)
		}
		must("query in GraphiQL", chromedp.Do(ctx,
			chromedp.Evaluate[chromedp.Void](`document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.setValue("{ value }")`)))
		// Run it until the answer shows (the first click may come before
		// GraphiQL has the guest's schema); the pane's text has no-break spaces.
		answered := `(document.querySelector(".graphiql-response") || {}).textContent.replace(/\s/g, "").includes('"value":7')`
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
			must("run in GraphiQL", chromedp.Do(ctx, chromedp.Click(chromedp.CSS(".graphiql-execute-button"))))
			if _, err = chromedp.Run(ctx, chromedp.Poll[bool](answered, chromedp.WithPollingTimeout(5*time.Second))); err == nil {
				break
			}
		}
		if err != nil {
			response, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".graphiql-response")))
			t.Errorf("the counter's GraphiQL did not answer { value } with 7: %q", response)
		}
	}

	// GraphiQL from the binary's assets, with the network closed to the page.
	start := time.Now()
	must("open GraphiQL", chromedp.Do(ctx, chromedp.Navigate(url+"/")))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`!!document.querySelector(".graphiql-container .CodeMirror")`, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	must("GraphiQL editor", err)
	first := time.Since(start)
	start = time.Now()
	must("open GraphiQL again", chromedp.Do(ctx, chromedp.Navigate(url+"/?again")))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`!!document.querySelector(".graphiql-container .CodeMirror")`, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second)))
	must("GraphiQL editor again", err)
	t.Logf("GraphiQL: editor on screen %v after the first navigation to / (bundles already cached: %v), %v after the second", first.Round(time.Millisecond), app != "", time.Since(start).Round(time.Millisecond))

	// GraphiQL runs a subscription over graphql-transport-ws at ws://host/,
	// with the tab's token in connection_init; a transfer made by another
	// client (a plain POST here) shows up in its result pane.
	must("subscribe in GraphiQL", chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.querySelector(".graphiql-query-editor .CodeMirror").CodeMirror.setValue("subscription { notifications { chainId kind height } }")`),
		chromedp.Click(chromedp.CSS(".graphiql-execute-button"))))
	mutation := fmt.Sprintf(`{"query":"mutation($c: ChainID, $r: Account!) { transfer(chain: $c, recipient: $r, amount: \"1\") { height } }","variables":{"c":%q,"r":%q}}`, b, a)
	seen := false
	for deadline := time.Now().Add(60 * time.Second); !seen && time.Now().Before(deadline); {
		req, err := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(mutation))
		must("transfer request", err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		must("transfer by POST", err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		must("transfer answer", err)
		if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `"errors"`) {
			t.Fatalf("transfer by POST: %d %s", resp.StatusCode, body)
		}
		_, err = chromedp.Run(ctx, chromedp.Poll[bool](`(document.querySelector(".graphiql-response") || {}).textContent.includes("NEW_BLOCK")`, chromedp.WithPollingTimeout(3*time.Second)))
		seen = err == nil
	}
	if !seen {
		response, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(".graphiql-response")))
		t.Errorf("GraphiQL's subscription showed no NEW_BLOCK; its pane: %q", response)
	}

	br.Log.CheckLocal(t)
}

// shiftAmount adds y to x (or subtracts it), amounts as the CLI prints them.
func shiftAmount(x, y string, add bool) (string, error) {
	xa, err := base.ParseAmount(x)
	if err != nil {
		return "", err
	}
	ya, err := base.ParseAmount(y)
	if err != nil {
		return "", err
	}
	var r base.Amount
	if add {
		r, err = xa.Add(ya)
	} else {
		r, err = xa.Sub(ya)
	}
	if err != nil {
		return "", err
	}
	return r.String(), nil
}
