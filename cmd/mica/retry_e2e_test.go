package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/micachain/mica/internal/base"
)

// TestCommitRetriesWhileAQuorumIsFrozen: two validators of four stop answering (frozen
// with SIGSTOP, as a validator too slow to answer within the client's deadline on a
// loaded machine): a transfer gets no quorum, says on stderr that it retries — its
// --json result stays alone on stdout — and commits once they answer again (resumed
// when the first retry is announced). The transfer is executed once.
func TestCommitRetriesWhileAQuorumIsFrozen(t *testing.T) {
	dir := t.TempDir()
	net := netUp(t, filepath.Join(dir, "net"), "--initial-chains", "1")
	w := net.info.Wallet
	a := walletChain(t, w)
	b := otherWalletChain(t, w, a)
	before := mustMica(t, w, "query-balance", b)

	frozen := net.info.Validators[2:]
	for _, v := range frozen {
		if err := syscall.Kill(v.PID, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	var once sync.Once
	resume := func() {
		once.Do(func() {
			for _, v := range frozen {
				if err := syscall.Kill(v.PID, syscall.SIGCONT); err != nil {
					t.Error(err)
				}
			}
		})
	}
	t.Cleanup(resume)

	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "transfer", "1", "--from", a, "--to", b, "--json")
	cmd.Env = append(os.Environ(), "MICA_WALLET="+w)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stderr []string
	sc := bufio.NewScanner(errPipe)
	for sc.Scan() {
		line := sc.Text()
		stderr = append(stderr, line)
		if strings.Contains(line, "retrying in") {
			resume()
		}
	}
	err = cmd.Wait()
	resume()
	all := strings.Join(stderr, "\n")
	if err != nil {
		t.Fatalf("transfer while two validators of four were frozen: %v\n%s", err, all)
	}
	if !strings.Contains(all, "no quorum of validators answered; retrying in 1s (attempt 2)...") {
		t.Errorf("the transfer did not say it retries for lack of a quorum:\n%s", all)
	}
	var res struct {
		Height *uint64 `json:"height"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil || res.Height == nil {
		t.Fatalf("transfer --json stdout is not its result alone: %v\n%s", err, stdout.String())
	}
	t.Logf("stderr of the transfer:\n%s", all)

	// One transfer of 1 arrived.
	mustMica(t, w, "process-inbox", b)
	had, err := base.ParseAmount(before)
	if err != nil {
		t.Fatal(err)
	}
	want, err := had.Add(base.Tokens(1))
	if err != nil {
		t.Fatal(err)
	}
	if got := mustMica(t, w, "query-balance", b); got != want.String() {
		t.Fatalf("B has %s after the transfer, want %s (it had %s)", got, want, before)
	}
}
