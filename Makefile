# The one place to learn the commands. `make test` is what CI runs (.ci/run).
GO ?= go
# Packages whose tests also run under the race detector in CI: the core.
CORE := ./internal/base/... ./internal/boundedset/... ./internal/codec/... ./internal/crypto/... ./internal/protocol/... \
        ./internal/consensus/... ./internal/kv/... ./internal/views/... ./internal/execution/... \
        ./internal/chain/... ./internal/storage/... ./internal/worker/... ./internal/client/... ./internal/rpc/...
FUZZTIME ?= 3s

.PHONY: test unit race lint fuzz bench bench-cometbft tidy-check

## test: everything CI checks — lint, unit tests, race detector on the core, short fuzzing.
test: lint unit race fuzz

unit:
	$(GO) test -tags invariants -count=1 -timeout 45m ./...
	cd sdk && $(GO) vet ./... && GOOS=wasip1 GOARCH=wasm $(GO) vet ./... && $(GO) test -count=1 ./...
	cd examples && $(GO) vet ./... && $(GO) test -count=1 ./...

race:
	$(GO) test -race -tags invariants -count=1 $(CORE)

lint: tidy-check
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

tidy-check:
	@cp go.mod /tmp/go.mod.bak; cp go.sum /tmp/go.sum.bak; $(GO) mod tidy; \
	if ! cmp -s go.mod /tmp/go.mod.bak || ! cmp -s go.sum /tmp/go.sum.bak; then \
	  echo "go mod tidy changes go.mod/go.sum; run it and commit"; cp /tmp/go.mod.bak go.mod; cp /tmp/go.sum.bak go.sum; exit 1; fi

## fuzz: run every fuzz target briefly (FUZZTIME each). A failing input is saved under
## testdata/fuzz and fails the replay of the corpus (-run); a fuzzing run that fails
## without one (Go 1.26's fuzzer sometimes ends with a bare "context deadline exceeded")
## is run again, up to twice more, and fails CI if every run fails. (Two such flakes
## were seen in one CI run of 40-odd targets; a saved input always fails at once.)
fuzz:
	@set -e; for pkg in $$($(GO) list ./internal/...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f"; \
	    ok=0; for attempt in 1 2 3; do \
	      if $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s $$pkg >/tmp/mica-fuzz.out 2>&1; then ok=1; break; fi; \
	      tail -20 /tmp/mica-fuzz.out; \
	      $(GO) test -count=1 -run "^$$f$$" $$pkg || { echo "FAIL: $$pkg $$f: failing input saved under testdata/fuzz"; exit 1; }; \
	      echo "retry $$pkg $$f: fuzzing run $$attempt failed without a failing input"; \
	    done; \
	    [ $$ok = 1 ] || { echo "FAIL: $$pkg $$f: three fuzzing runs failed"; exit 1; }; \
	  done; \
	done

## bench: the benchmarks reported in docs/PERFORMANCE.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/crypto/ ./internal/protocol/ ./internal/chain/ ./internal/sim/ ./internal/kv/... ./internal/views/ ./internal/rpc/ ./internal/localnet/

## bench-cometbft: Mica side by side with CometBFT's kvstore on this machine (docs/PERFORMANCE.md,
## "Side by side with CometBFT"); builds CometBFT outside the repository. Minutes; not part of CI.
bench-cometbft:
	scripts/bench-cometbft.sh
