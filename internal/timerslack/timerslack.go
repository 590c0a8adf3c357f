// Package timerslack sets the Linux timer slack (prctl(2) PR_SET_TIMERSLACK) of Mica's
// long-running processes.
//
// A Go process that goes idle and busy again hundreds of times a second — a validator
// or a client committing blocks on a few shared cores — wakes its runtime's monitor
// thread (sysmon) each time it becomes busy, and sysmon then polls every 20 µs for the
// next millisecond: a timer interrupt and two context switches each (15–23 µs on the
// project's VM; 17 % of a validator's CPU at 16 chains, docs/PERFORMANCE.md "hotpath").
// With 1 ms of slack the kernel may defer and merge those wake-ups. sysmon is started
// before any Go code runs and takes its slack from the process's first thread, so a
// process gets the slack either from the one that starts it (StartCommand) or by
// executing itself again with it (Reexec). Timers fire up to the slack later; none of
// Mica's is on a block's path (votes and certificates wait for I/O, not for timers).
//
// Elsewhere than on Linux the functions do nothing.
package timerslack

import "time"

// Default is the timer slack Mica gives its long-running processes (Linux's default is
// 50 µs). 5 ms was measured worse: validators synced their WAL more often per block.
const Default = time.Millisecond

// DisableEnv names the environment variable that, set to "off", keeps Reexec from
// changing the slack (for measuring, or on a system where re-executing is unwanted).
const DisableEnv = "MICA_TIMER_SLACK"
