//go:build !linux

package main

import "syscall"

// dieWithParent does nothing where the kernel has no parent-death signal: a session
// outlives a test binary killed without cleanup.
func dieWithParent(*syscall.SysProcAttr) {}
