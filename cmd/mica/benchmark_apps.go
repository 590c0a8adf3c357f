package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/micachain/mica/internal/atomicfile"
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/bench"
	"github.com/micachain/mica/internal/protocol"
)

// benchAppsFile, in the benchmark wallet, records the applications the benchmark
// published and created, so that later runs reuse them.
const benchAppsFile = "apps.json"

// benchApps is benchAppsFile.
type benchApps struct {
	Counter  *benchApp `json:"counter,omitempty"`
	Fungible *benchApp `json:"fungible,omitempty"`
}

// benchApp is one application of the benchmark.
type benchApp struct {
	Module      string `json:"module"`
	Application string `json:"application"`
	// Holder is the chain whose owner received the fungible token's supply at
	// creation: the funding chain, which grants tokens to the benchmark chains.
	Holder string `json:"holder_chain,omitempty"`
}

// fungibleSupply is the supply of a benchmark token, held by the funding chain's
// owner; fungibleGrant is what each benchmark chain receives of it for a run (each
// chain sends one token per operation and receives as many from its predecessor).
const (
	fungibleSupply = uint64(1) << 62
	fungibleGrant  = uint64(1_000_000_000)
)

func (r *benchRun) appsPath() string { return filepath.Join(r.bs.w.Dir(), benchAppsFile) }

func (r *benchRun) loadApps() (*benchApps, error) {
	var a benchApps
	b, err := os.ReadFile(r.appsPath())
	if errors.Is(err, os.ErrNotExist) {
		return &a, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("%s: %w (remove it: the next run publishes the applications again)", r.appsPath(), err)
	}
	return &a, nil
}

func (r *benchRun) saveApps(a *benchApps) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(r.appsPath(), append(b, '\n'), 0o644)
}

// prepareApps makes sure the scenario's applications exist (building, publishing and
// creating each example once, from the funding chain) and, for the fungible token,
// grants tokens to every benchmark chain.
func (r *benchRun) prepareApps(ctx context.Context, sc bench.Scenario, examples string) error {
	if !sc.NeedsCounter() && !sc.NeedsFungible() {
		return nil
	}
	apps, err := r.loadApps()
	if err != nil {
		return err
	}
	if sc.NeedsCounter() {
		if apps.Counter == nil {
			if apps.Counter, err = r.createApp(ctx, examples, "counter", nil, "0"); err != nil {
				return err
			}
			if err := r.saveApps(apps); err != nil {
				return err
			}
		}
		if r.counter, err = base.ParseApplicationID(apps.Counter.Application); err != nil {
			return fmt.Errorf("%s: counter: %w", r.appsPath(), err)
		}
	}
	if sc.NeedsFungible() {
		// The supply belongs to the funding chain's owner: a token created for another
		// funding chain cannot be granted from this one.
		if apps.Fungible == nil || apps.Fungible.Holder != r.fc.ID().String() {
			known := apps.Fungible // its module is published
			arg := string(bench.FungibleInitialState(r.fc.Owner(), fungibleSupply))
			if apps.Fungible, err = r.createApp(ctx, examples, "fungible", known, arg); err != nil {
				return err
			}
			apps.Fungible.Holder = r.fc.ID().String()
			if err := r.saveApps(apps); err != nil {
				return err
			}
		}
		if r.fungible, err = base.ParseApplicationID(apps.Fungible.Application); err != nil {
			return fmt.Errorf("%s: fungible: %w", r.appsPath(), err)
		}
		ops := make([]protocol.Operation, len(r.ccs))
		for i, cc := range r.ccs {
			ops[i] = protocol.Operation{App: r.fungible, Bytes: bench.FungibleTransfer(r.fc.Owner(), fungibleGrant, cc.ID(), cc.Owner())}
		}
		if _, err := r.s.commit(ctx, r.fc, func() (*protocol.Certificate, error) { return r.fc.ExecuteOperations(ctx, ops, nil) }); err != nil {
			return fmt.Errorf("grant fungible tokens to the benchmark chains: %w", err)
		}
	}
	return nil
}

// warmUp commits one block of the scenario's application operations on the first
// benchmark chain before the load: the client compiles each application's bytecode
// the first time it executes it (seconds for a Go guest), which is no part of a
// block's cost in steady state. The fungible transfer goes to the chain's own owner.
func (r *benchRun) warmUp(ctx context.Context, sc bench.Scenario) error {
	if len(r.ccs) == 0 || !sc.NeedsCounter() && !sc.NeedsFungible() {
		return nil
	}
	cc := r.ccs[0]
	var ops []protocol.Operation
	if sc.NeedsCounter() {
		ops = append(ops, protocol.Operation{App: r.counter, Bytes: bench.CounterIncrement})
	}
	if sc.NeedsFungible() {
		ops = append(ops, protocol.Operation{App: r.fungible, Bytes: bench.FungibleTransfer(cc.Owner(), 1, cc.ID(), cc.Owner())})
	}
	done := startProgress(r.cmd, "warming up (the client compiles the applications)")
	_, err := r.bs.commit(ctx, cc, func() (*protocol.Certificate, error) { return cc.ExecuteOperations(ctx, ops, nil) })
	done(err)
	if err != nil {
		return fmt.Errorf("warm-up block on %s: %w", cc.ID().Short(), err)
	}
	return nil
}

// createApp creates an application of the example name with argument arg on the
// funding chain: of known's module if set (already published), else of the example
// built from examples/name and published in the same block.
func (r *benchRun) createApp(ctx context.Context, examples, name string, known *benchApp, arg string) (*benchApp, error) {
	var ops []protocol.Operation
	var blobs []protocol.Blob
	var module protocol.ModuleID
	if known != nil {
		m, err := parseModuleID(known.Module)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", r.appsPath(), name, err)
		}
		module = m
	} else {
		contract, service, err := r.buildExample(ctx, examples, name)
		if err != nil {
			return nil, err
		}
		if module, blobs, err = readModule(contract, service); err != nil {
			return nil, err
		}
		ops = append(ops, protocol.SystemOp(&protocol.PublishModule{Module: module}))
	}
	ops = append(ops, protocol.SystemOp(&protocol.CreateApplication{Module: module, Argument: []byte(arg)}))
	what := fmt.Sprintf("creating the %s application on %s", name, r.fc.ID().Short())
	if len(blobs) > 0 {
		what = fmt.Sprintf("publishing and creating the %s application on %s (validators check and compile the bytecode)", name, r.fc.ID().Short())
	}
	fmt.Fprintf(r.stderr, "%s...\n", what)
	cert, err := r.s.commit(ctx, r.fc, func() (*protocol.Certificate, error) { return r.fc.ExecuteOperations(ctx, ops, blobs) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	res := cert.Block.Outcome.OperationResults
	if len(res) == 0 || len(res[len(res)-1]) != base.HashSize {
		return nil, fmt.Errorf("%s: the block returned no application id", what)
	}
	app := base.ApplicationID(res[len(res)-1])
	fmt.Fprintf(r.stderr, "%s application %s (kept in %s for later runs)\n", name, app, r.appsPath())
	return &benchApp{Module: module.String(), Application: app.String()}, nil
}

// buildExample builds examples/name with `mica project build` (its progress goes to
// stderr) and returns the contract's and the service's paths.
func (r *benchRun) buildExample(ctx context.Context, examples, name string) (contract, service string, err error) {
	dir := filepath.Join(examples, name)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", "", fmt.Errorf("the %s application is not published yet and its source %s is not here: run from a checkout of mica, or give --examples DIR (the directory holding counter/ and fungible/)", name, dir)
	}
	exe, err := os.Executable()
	if err != nil {
		return "", "", err
	}
	fmt.Fprintf(r.stderr, "building the %s example (%s)...\n", name, dir)
	b := exec.CommandContext(ctx, exe, "project", "build", "--json=false", dir)
	b.Stderr = r.stderr
	out, err := b.Output()
	if err != nil {
		return "", "", fmt.Errorf("mica project build %s: %w", dir, err)
	}
	paths := strings.Fields(string(out))
	if len(paths) != 2 {
		return "", "", fmt.Errorf("mica project build %s printed %q, want the contract's and the service's paths", dir, out)
	}
	return paths[0], paths[1], nil
}
