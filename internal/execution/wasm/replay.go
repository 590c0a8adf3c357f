package wasm

import (
	"bytes"
	"context"
	"fmt"

	"github.com/micachain/mica/internal/base"
)

// A contract's run is a function of the module's snapshot, the entry point, the input,
// the environment (time and seed: the clock readings and random bytes) and the host's
// answers to its requests. Validators execute each block twice (for their vote, then
// the certificate) and a client executes its own blocks twice too (to stage them, then
// the certificate): the same runs, with the same answers. So a successful run's
// requests and answers are recorded (recordedRun), and a later run with the same entry,
// input and environment makes the same requests to its host in the same order without
// running the guest: if every answer is the same, the run ends as the recorded one did
// (same output, same fuel); at the first answer that differs, the guest runs, and its
// first requests, which are those already made (the guest is deterministic), get the
// answers already received instead of being made again. The requests' effects on the
// host (writes, messages, transfers) happen once either way.
//
// Only runs whose requests neither use the fuel tank nor charge fuel of their own are
// recorded (replayableKinds): no call of another application, no service query, no
// signature check. Runs that log are not recorded either (replaying would drop the
// log lines).

// replayableKinds are the requests a recorded run may make.
var replayableKinds = map[Kind]bool{
	KindChainID: true, KindApplicationID: true, KindBlockHeight: true, KindTimestamp: true,
	KindAuthenticatedOwner: true, KindReadValue: true, KindReadMultiValues: true,
	KindFindKeyValues: true, KindWriteBatch: true, KindSendMessage: true, KindTransfer: true,
	KindChainBalance: true, KindOwnerBalance: true, KindEmitEvent: true, KindMessageInfo: true,
	KindAuthenticatedCaller: true, KindSha256: true, KindKeccak256: true,
	KindApplicationParameters: true,
}

// Bounds of what is recorded.
const (
	maxRecordedRuns  = 64       // per module; the oldest is dropped
	maxRecordedBytes = 64 << 10 // input, requests and answers of one run
)

// exchange is one request of a run and the host's answer.
type exchange struct {
	kind Kind
	req  []byte
	resp []byte
	err  error
}

// replayKey identifies the runs that, given the same answers, end the same way.
type replayKey struct {
	entry, input string
	env          Environment
}

// recordedRun is a successful run's requests and outcome.
type recordedRun struct {
	exchanges []exchange
	output    []byte
	fuel      uint64
}

// recorded returns the recorded run of key, if any.
func (m *Module) recorded(key replayKey) (*recordedRun, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.runs[key]
	return r, ok
}

// record keeps r as the recorded run of key, dropping the oldest beyond
// maxRecordedRuns.
func (m *Module) record(key replayKey, r *recordedRun) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.runs == nil {
		m.runs = make(map[replayKey]*recordedRun)
	}
	if _, ok := m.runs[key]; !ok {
		m.runOrder = append(m.runOrder, key)
		if len(m.runOrder) > maxRecordedRuns {
			delete(m.runs, m.runOrder[0])
			m.runOrder = m.runOrder[1:]
		}
	}
	m.runs[key] = r
}

// replay makes rec's requests to host in order. It returns true if every answer was
// the recorded one: the run's outcome is then rec's. Otherwise it returns the
// requests made and their answers, the last one differing (or failing), for the run
// that must follow (callState.prefetched).
func replay(ctx context.Context, rec *recordedRun, host Host) (bool, []exchange) {
	var made []exchange
	for _, x := range rec.exchanges {
		resp, err := host.Call(ctx, x.kind, x.req)
		made = append(made, exchange{kind: x.kind, req: x.req, resp: resp, err: err})
		if !sameAnswer(x, resp, err) {
			return false, made
		}
	}
	return true, nil
}

// sameAnswer reports whether an answer is the one x recorded (recorded runs succeeded,
// so their answers are responses or the negative codes, never aborting errors).
func sameAnswer(x exchange, resp []byte, err error) bool {
	if (err == nil) != (x.err == nil) {
		return false
	}
	if err != nil {
		return callCode(err) != 0 && callCode(err) == callCode(x.err)
	}
	return bytes.Equal(resp, x.resp)
}

// callCode returns the negative result mica.call gives the guest for err, or 0 for an
// error that aborts the run.
func callCode(err error) int64 {
	switch {
	case errorsIs(err, ErrUnknownKind):
		return CodeUnknownKind
	case errorsIs(err, ErrNotSupported):
		return CodeNotSupported
	case errorsIs(err, ErrMalformedRequest):
		return CodeMalformed
	}
	return 0
}

// nextPrefetched returns the answer already received for the guest's request (kind,
// req) when the run follows a replay that stopped, and whether there was one.
func (st *callState) nextPrefetched(kind Kind, req []byte) (exchange, bool) {
	if len(st.prefetched) == 0 {
		return exchange{}, false
	}
	x := st.prefetched[0]
	st.prefetched = st.prefetched[1:]
	if x.kind != kind || !bytes.Equal(x.req, req) {
		// The guest is deterministic: this is the engine's bug, not the contract's.
		panic(&hostAbort{fmt.Errorf("%w: a run after a replay asked kind %d, the replay asked kind %d", base.ErrRetryable, kind, x.kind)})
	}
	return x, true
}
