//go:build invariants

package wasm

// checkReset makes snapshot.reset compare the whole memory with the image after a
// reset (build tag invariants, which CI sets): a write that bypassed the dirty pages
// would show there.
const checkReset = true
