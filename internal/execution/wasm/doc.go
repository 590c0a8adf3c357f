// Package wasm is Mica's application VM: it instruments Wasm modules for deterministic
// fuel metering, compiles them with wazero (with a compilation cache), and runs
// contracts and services against the execution layer's runtime through a small ABI.
//
// # Determinism
//
// A contract run always starts from the same state: the module's state right after
// _initialize (a Go reactor's runtime start-up), which runs once per module and process
// in a fixed environment (InitEnvironment: time 0, zero seed, no host requests) on its
// own budget (InitializeFuel, not charged to transactions). The engine snapshots that
// state (memory and every mutable global, which the instrumenter exports under
// GlobalExportPrefix) and restores it into a new instance, or resets an instance that
// ended a successful run, for every run; modules whose state would also live in tables
// or dropped segments run _initialize in each new instance instead, on the run's fuel.
// A run's result and the fuel it uses therefore depend only on the module, the fuel
// given, the input and the host's answers; the run's clock readings continue after
// those of _initialize, and its random stream is its own.
//
// Reusing an instance costs a comparison with the snapshot's image of the 4 KiB chunks
// the run may have written (the instrumented code and the host mark the 64 KiB page and
// the chunk of every write in two globals exported as DirtyExport and
// DirtyChunksExport, bit page%64 and bit chunk%64: a chunk is compared when both bits
// are set) and a rewrite of the chunks that differ (snapshot.reset); idle instances are kept up to
// EngineConfig.MaxIdleInstanceBytes. A contract run with no input from the snapshot that
// calls no host function with an outside answer or effect (no request, clock, random
// bytes or log) depends on the module alone: its outcome and fuel are recorded and
// replayed by later runs of that entry (pureRun), as for the SDK's mica_finalize of a
// contract that has no Finalizer.
// Fuel is counted by bytecode instrumentation (Instrument; InstrumentVersion names the
// cost table), plus HostCallFuel per host call and HostByteFuel per byte crossing the
// boundary. The contract runtime never reads a wall clock: WASI clocks return the block
// timestamp, random_get is a SHA-256 stream seeded from (chain, height, application).
// Float results are canonicalised (one NaN bit pattern per type), so they do not
// depend on the CPU. Every index the code uses must lie in the module's own index
// spaces, so the fuel global is out of the guest's reach. A transaction's contracts
// share one execution.FuelTank (Contract.UseFuelTank), nested calls included: the
// guest's fuel is written back to the tank around every host call.
//
// A contract whose ctx ends is stopped (its fuel global is poisoned) with an
// ErrInterrupted error, of class base.ErrRetryable: wall time never decides an outcome.
// Services run on a second wazero runtime that is closed when ctx is done, unmetered
// and bounded by EngineConfig.ServiceTimeout. Compiled modules are cached in memory
// (EngineConfig.MaxCachedModules, least recently used evicted) and on disk
// (EngineConfig.MaxCacheDirBytes, oldest files removed).
//
// # ABI (version 1) — the contract with the SDK
//
// Host module "mica":
//
//	call(kind i32, ptr i32, len i32) -> i64
//	    Performs request kind with the canonical-encoded (package codec) request at
//	    [ptr, ptr+len). Returns the response length n >= 0, after which the guest must
//	    call result to fetch it, or a negative code: -1 unknown kind, -2 not supported
//	    (in this runtime or yet), -3 malformed request. Any other failure (missing
//	    blob, insufficient balance, re-entrant call, storage error) aborts the run
//	    with the host's error.
//	result(ptr i32)              copies the pending response to [ptr, ptr+n)
//	set_output(ptr i32, len i32) sets the entry point's output (last call wins)
//	set_error(ptr i32, len i32)  sets the error message reported with a non-zero status
//	log(level i32, ptr i32, len i32)  logs a UTF-8 message at slog.Level(level)
//
// Guest exports: memory "memory"; mica_alloc(len i32) -> i32 (a buffer the host fills
// with the input); optionally _initialize() (Go reactors; its effect is restored before every entry); entry
// points mica_instantiate, mica_execute_operation, mica_execute_message, mica_finalize
// (optional), mica_process_streams (optional; input Vec<([32] publisher chain, [32]
// application, VarBytes stream name, u32 previous index, u32 next index)>: the new
// events of the streams the application subscribes to) and mica_handle_query, each (ptr i32, len i32) -> i32 status, 0 for
// success, otherwise the error is the message given to set_error.
//
// Request kinds (request → response; u64 little-endian, VarBytes = uleb length +
// bytes, Option = bool byte + value, Vec = uleb count + items, Amount = u128 LE,
// Owner and Account as in package codec):
//
//	 1 chain id            () → [32]
//	 2 application id      () → [32]
//	 3 block height        () → u64 (services: next block height)
//	 4 timestamp           () → u64 µs (services: local time)
//	 5 authenticated owner () → Option<Owner>                       contracts only
//	 6 read value          VarBytes key → Option<VarBytes>
//	 7 read multi values   Vec<VarBytes> → Vec<Option<VarBytes>>
//	 8 find key-values     VarBytes prefix → Vec<(VarBytes key, VarBytes value)>
//	 9 write batch         Vec<op> → ()   op: 0 put key value | 1 delete key |
//	                       2 delete prefix, each key/value VarBytes  contracts only
//	10 send message        [32] chain, bool authenticated, bool tracked,
//	                       VarBytes message → ()                     contracts only
//	11 transfer            Owner source, Account recipient, Amount → ()   contracts only
//	12 call application    bool authenticated, [32] application, VarBytes argument →
//	                       raw response bytes                       contracts only
//	13 read data blob      [32] hash → raw blob bytes
//	14 chain balance       () → Amount
//	15 owner balance       Owner → Amount
//	16 HTTP request        String method, String url, Vec<(String name, String value)>
//	                       headers, VarBytes body → u16 status, VarBytes body
//	                       (String = VarBytes of UTF-8). Contracts: an oracle, recorded
//	                       in the block (replay returns the record); services: performed
//	                       directly, not recorded. The host must be on the committee's
//	                       HTTPAllowList; a refused or failed request aborts the run
//	                       with execution.ErrHTTPRequest.
//	27 query service       [32] application, VarBytes query → raw answer bytes
//	                       contracts only: runs the application's service on the chain's
//	                       state as the transaction sees it, within the block's
//	                       MaxServiceOracleMs; an oracle (recorded, replayed)
//	28 assert before       u64 timestamp µs → ()   contracts only: aborts the run
//	                       (execution.ErrAssertBefore) unless the validator's clock is
//	                       before the timestamp; recorded (replay does not read a clock)
//	25 claim               Account source, Account recipient, Amount → ()   contracts
//	                       only: withdraw from an account of the authenticated owner
//	                       on another chain (an authenticated Withdraw message)
//	26 open chain          ChainOwnership (protocol encoding), Amount → [32] chain id
//	                       contracts only: the child is funded from the
//	                       application's own account
//	21 schedule operation  VarBytes operation → ()   services only: the client commits
//	                       the operation (of this application) in a block
//	17 emit event          VarBytes name, VarBytes value → u32 index   contracts only:
//	                       appends to stream (this application, name) of this chain;
//	                       name 1–64 bytes, value at most 64 KiB, at most 1,024
//	                       events per transaction
//	18 read event          [32] chain, [32] application, VarBytes name, u32 index →
//	                       raw value. Contracts read through the recorded oracles
//	                       (an OracleEvent response), services from local storage; a
//	                       missing event aborts the run (*execution.MissingEventError)
//	29 subscribe to events [32] chain, [32] application, VarBytes name → ()
//	                       contracts only: subscribes the running application
//	30 unsubscribe         [32] chain, [32] application, VarBytes name → ()
//	                       contracts only
//	31 application         () → raw parameter bytes: the Parameters of the running
//	   parameters          application's description (`mica create-application
//	                       --json-parameters`), empty when none were given; contracts
//	                       and services. They travel in the CreateApplication
//	                       operation, so the block's MaxBlockSize bounds them, and the
//	                       guest pays HostByteFuel per byte like any response. The
//	                       contract runtime reads the description blob the loader has
//	                       already read (and recorded) in the transaction, so the call
//	                       records no oracle response. Kind 31 came after the first
//	                       release of ABI version 1: a validator without it answers
//	                       -1 (unknown kind), so the SDK's Runtime.Parameters fails
//	                       and so does the run — the block fails on such validators;
//	                       upgrade the committee before applications use it.
//	19 message info        () → Option<([32] origin, u64 height, u64 timestamp,
//	                       bool bouncing)>                           contracts only
//	20 authenticated caller () → Option<[32] application>           contracts only
//	22 sha256              VarBytes data → [32] SHA-256 digest
//	23 keccak256           VarBytes data → [32] legacy Keccak-256 digest (Ethereum's)
//	24 verify signature    PublicKey, [32] message, Signature → bool
//	                       PublicKey and Signature are canonical encodings as
//	                       crypto.PublicKey/Signature.Encode write them: ULEB scheme tag
//	                       then VarBytes key/signature bytes. A key or signature that
//	                       does not decode (unknown scheme, wrong length, invalid point)
//	                       is a malformed request (-3); one that does not verify —
//	                       including a scheme mismatch — answers false. Verification is
//	                       crypto.Verify's (ZIP-215 Ed25519, Ethereum-digest secp256k1,
//	                       ML-DSA-65).
//
// Kinds 22–24 serve contracts and services alike. They keep hashing and signature
// checks on the host (20–30× faster than the same code compiled into a Go guest).
// Hashes cost only HostCallFuel plus HostByteFuel per byte crossing (proportional to
// the data); verify signature costs VerifySignatureFuel (3,000) more.
//
// Host module "wasi_snapshot_preview1" (what Go wasip1 guests import): args and
// environment are empty; clock_time_get returns the fixed time (+1 ns per read);
// random_get is deterministic; fd_write to stdout/stderr goes to the engine's logger at
// debug level; other descriptors, fd_read, fd_seek and preopens answer EBADF;
// poll_oneoff reports no events; proc_exit aborts the run. The calls Go links into
// guests that call methods by reflection (the SDK's GraphQL engine keeps every method
// of *os.File) — fd_filestat_get, fd_filestat_set_size, fd_pread, fd_pwrite,
// fd_readdir, fd_sync, path_filestat_get, sock_accept, sock_shutdown — answer EBADF:
// there is no descriptor, preopen or socket to use them on. Any other import —
// opening files or sockets (path_open, sock_*), other modules, or non-function
// imports — is refused by Engine.Compile with an error naming it.
package wasm

//go:generate sh testdata/gen.sh
