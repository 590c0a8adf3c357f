package main

import (
	"fmt"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// startProgress shows on stderr that a step which can take more than a second is
// running: on a terminal a spinner with the elapsed time (schollz/progressbar), else a
// line when it starts and one when it ends. Under --json it shows nothing. The returned
// function ends it; call it once.
func startProgress(cmd *cobra.Command, what string) func(err error) {
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
		return func(error) {}
	}
	w := cmd.ErrOrStderr()
	start := time.Now()
	f, isFile := w.(*os.File)
	if !isFile || !term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(w, "%s...\n", what)
		return func(err error) {
			if err == nil {
				fmt.Fprintf(w, "%s: done in %s\n", what, time.Since(start).Round(time.Millisecond))
			}
		}
	}
	bar := progressbar.NewOptions(-1,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	stop := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				_ = bar.Add(1)
			}
		}
	}()
	return func(err error) {
		close(stop)
		<-ended
		_ = bar.Finish()
		if err == nil {
			fmt.Fprintf(w, "%s: done in %s\n", what, time.Since(start).Round(time.Millisecond))
		} else {
			fmt.Fprintln(w)
		}
	}
}

// mib formats a byte count in MiB.
func mib(n int) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
