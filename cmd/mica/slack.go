package main

import (
	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/timerslack"
)

// withTimerSlack gives a long-running command's process Mica's timer slack
// (timerslack.Default) by executing it again with it, unless it has it already (net up
// starts validators with it) or MICA_TIMER_SLACK=off. It runs first thing in the
// command, before anything is opened or started; when executing fails the command goes
// on with the slack it has, saying so at debug level.
func withTimerSlack(cmd *cobra.Command) {
	if err := timerslack.Reexec(timerslack.Default); err != nil {
		logger(cmd).Debug("running without timer slack", "err", err)
	}
}
