# The one place to learn the commands. `make test` is what CI runs (.ci/run).
GO ?= go
# Packages whose tests also run under the race detector in CI: the core.
CORE := ./internal/base/... ./internal/boundedset/... ./internal/codec/... ./internal/crypto/... ./internal/protocol/... \
        ./internal/consensus/... ./internal/kv/... ./internal/views/... ./internal/execution/... \
        ./internal/chain/... ./internal/storage/... ./internal/worker/... ./internal/client/... ./internal/rpc/...
FUZZTIME ?= 3s
FUZZPKGS ?= ./internal/...

.PHONY: test unit race lint fuzz bench bench-cometbft tidy-check

## test: everything CI checks — lint, unit tests, race detector on the core, short fuzzing.
test: lint unit race fuzz

unit:
	$(GO) test -tags invariants -count=1 -timeout 45m ./...
	cd sdk && $(GO) vet ./... && GOOS=wasip1 GOARCH=wasm $(GO) vet ./... && $(GO) test -count=1 ./...
	cd examples && $(GO) vet ./... && $(GO) test -count=1 ./...

race:
	$(GO) test -race -tags invariants -count=1 -timeout 30m $(CORE)

lint: tidy-check
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

tidy-check:
	@cp go.mod /tmp/go.mod.bak; cp go.sum /tmp/go.sum.bak; $(GO) mod tidy; \
	if ! cmp -s go.mod /tmp/go.mod.bak || ! cmp -s go.sum /tmp/go.sum.bak; then \
	  echo "go mod tidy changes go.mod/go.sum; run it and commit"; cp /tmp/go.mod.bak go.mod; cp /tmp/go.sum.bak go.sum; exit 1; fi

## fuzz: run every fuzz target briefly (FUZZTIME each), each package's instrumented test
## binary built once; a failing input fails CI, a run that fails without one is retried
## (.ci/fuzz.sh says how).
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZPKGS="$(FUZZPKGS)" .ci/fuzz.sh

## bench: the benchmarks reported in docs/PERFORMANCE.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/crypto/ ./internal/protocol/ ./internal/chain/ ./internal/sim/ ./internal/kv/... ./internal/views/ ./internal/rpc/ ./internal/localnet/

## bench-cometbft: Mica side by side with CometBFT's kvstore on this machine (docs/PERFORMANCE.md,
## "Side by side with CometBFT"); builds CometBFT outside the repository. Minutes; not part of CI.
bench-cometbft:
	scripts/bench-cometbft.sh
