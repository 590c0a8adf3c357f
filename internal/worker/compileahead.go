package worker

import "github.com/micachain/mica/internal/protocol"

// moduleCompiler is implemented by loaders that can compile bytecode in the background
// (the Wasm VM's Loader): at most one at a time, returning false when busy or when there
// is nothing to do for the blob.
type moduleCompiler interface {
	CompileAhead(b protocol.Blob) bool
}

// compileAhead starts compiling in the background a bytecode blob that the block about to
// be executed publishes, so that a validator compiles two modules at once (the execution
// validates the blobs in order, so the last one is started ahead) and the execution
// waits for that compilation instead of repeating it. Only blobs of a signed proposal
// that passed the round checks, or of a verified certificate, come here: the execution
// compiles them anyway, so it costs at most one compilation early, never one more.
func (w *Worker) compileAhead(blobs []protocol.Blob) {
	mc, ok := w.cfg.Loader.(moduleCompiler)
	if !ok {
		return
	}
	for i := len(blobs) - 1; i >= 0; i-- {
		if mc.CompileAhead(blobs[i]) {
			return
		}
	}
}
