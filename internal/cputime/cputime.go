// Package cputime reads the CPU time this process has used, for benchmarks that report
// CPU per operation beside wall time (a shared machine's load inflates wall time more
// than CPU time).
package cputime
