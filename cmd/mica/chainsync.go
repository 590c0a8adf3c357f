package main

// Syncing a chain for a command, and saying why the local replica stopped short of the
// height validators report. The client's SyncChain returns the height it reached and
// leaves the rest to the next sync (a faulty validator may claim anything, so a claim
// it could not follow is no error; the faucet's start-up relies on that). A user who
// asked for the chain is told, as a warning, which validators claim more and why their
// next block did not make it into the replica.

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
)

// chainClaims are the next heights validators reported for chains during a session
// (their chain-info answers), by chain and validator address. It holds at most one
// entry per validator for each chain the command synced. Safe for concurrent use.
type chainClaims struct {
	mu sync.Mutex
	m  map[base.ChainID]map[string]claim
}

type claim struct {
	addr string
	node certSource
	next base.BlockHeight
}

// certSource is where diagnose gets a block: a validator (countingNode).
type certSource interface {
	Certificates(ctx context.Context, chain base.ChainID, from, to base.BlockHeight) ([]*protocol.Certificate, error)
}

// certHandler verifies and executes a certificate: the local node (worker.Worker).
type certHandler interface {
	HandleCertificate(ctx context.Context, cert *protocol.Certificate) (*protocol.ChainInfo, error)
}

func (c *chainClaims) note(id base.ChainID, addr string, n certSource, next base.BlockHeight) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[base.ChainID]map[string]claim{}
	}
	if c.m[id] == nil {
		c.m[id] = map[string]claim{}
	}
	if old, ok := c.m[id][addr]; !ok || next > old.next {
		c.m[id][addr] = claim{addr: addr, node: n, next: next}
	}
}

// above returns the claims for chain id above next, by address.
func (c *chainClaims) above(id base.ChainID, next base.BlockHeight) []claim {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []claim
	for _, cl := range c.m[id] {
		if cl.next > next {
			out = append(out, cl)
		}
	}
	slices.SortFunc(out, func(a, b claim) int { return strings.Compare(a.addr, b.addr) })
	return out
}

// syncReport is what syncing a chain for a command found.
type syncReport struct {
	next base.BlockHeight
	// synced says some validator answered.
	synced bool
	// behind says why the local replica stopped short of the height validators report;
	// "" when it did not.
	behind string
}

// syncChain syncs a chain from the validators. When no validator answered it says on
// stderr that what follows comes from the local replica only; when validators report
// blocks the replica could not get, it says on stderr why (a warning, not an error:
// what the replica holds is verified, only not the newest).
func (s *session) syncChain(cmd *cobra.Command, id base.ChainID) (syncReport, error) {
	ctx := cmd.Context()
	before := s.answers.Load()
	next, err := s.c.SyncChain(ctx, id)
	if err != nil {
		return syncReport{next: next}, err
	}
	r := syncReport{next: next, synced: s.answers.Load() > before}
	if !r.synced {
		fmt.Fprintln(cmd.ErrOrStderr(), "mica: note: no validator answered (is the network running? mica net status); this answer comes from the local replica and may be stale")
		return r, nil
	}
	ahead := s.claims.above(id, next)
	if len(ahead) == 0 {
		return r, nil
	}
	// Ask each validator that claims more for the replica's next block and hand it to
	// the local node: its refusal is the reason. A block that now passes was a passing
	// failure: sync again, once.
	name := func(addr string) string { return validatorName(cmd, addr) }
	reasons, progressed := diagnose(ctx, s.c.Local(), id, next, ahead, name)
	if progressed {
		if next, err = s.c.SyncChain(ctx, id); err != nil {
			return syncReport{next: next}, err
		}
		r.next = next
		if ahead = s.claims.above(id, next); len(ahead) == 0 {
			return r, nil
		}
		reasons, _ = diagnose(ctx, s.c.Local(), id, next, ahead, name)
	}
	top := ahead[0].next
	names := make([]string, len(ahead))
	for i, cl := range ahead {
		top = max(top, cl.next)
		names[i] = name(cl.addr)
	}
	r.behind = fmt.Sprintf("the local replica of chain %s stopped at height %d, but %s report(s) up to height %d: %s",
		id.Short(), r.next, strings.Join(names, ", "), top, strings.Join(reasons, "; "))
	fmt.Fprintf(cmd.ErrOrStderr(), "mica: warning: %s\n", r.behind)
	return r, nil
}

// diagnose asks each validator of ahead for block next of chain id and hands it to the
// local node; it returns why each one did not extend the replica, and whether one did.
// name names a validator by its address.
func diagnose(ctx context.Context, local certHandler, id base.ChainID, next base.BlockHeight, ahead []claim, name func(addr string) string) ([]string, bool) {
	var reasons []string
	for _, cl := range ahead {
		who := name(cl.addr)
		certs, err := cl.node.Certificates(ctx, id, next, next+1)
		switch {
		case err != nil:
			msg, _ := describeError(nil, err)
			reasons = append(reasons, fmt.Sprintf("%s did not send block %d (%s)", who, next, msg))
		case len(certs) != 1 || certs[0].Kind != protocol.KindConfirmed || certs[0].ChainID() != id || certs[0].Height() != next:
			reasons = append(reasons, fmt.Sprintf("%s sent no confirmed certificate of block %d", who, next))
		default:
			if _, err := local.HandleCertificate(ctx, certs[0]); err != nil {
				msg, _ := describeError(nil, err)
				reasons = append(reasons, fmt.Sprintf("block %d from %s is refused: %s", next, who, msg))
				continue
			}
			return nil, true
		}
	}
	return reasons, false
}

// withProgress asks syncedChain to show the sync's progress (startProgress).
const withProgress = true

// syncedChain is the boilerplate of the commands that read one chain: connect, resolve
// the chain (name, or the wallet's default), sync it (syncChain, with its progress on
// stderr if progress), run f, and print what it returns (JSON under --json, else its
// text).
func syncedChain(cmd *cobra.Command, name string, progress bool, f func(s *session, id base.ChainID, r syncReport) (any, func(io.Writer), error)) error {
	s, id, err := connectOn(cmd, name)
	if err != nil {
		return err
	}
	defer s.Close()
	done := func(error) {}
	if progress {
		done = startProgress(cmd, "syncing chain "+id.Short())
	}
	r, err := s.syncChain(cmd, id)
	done(err)
	if err != nil {
		return err
	}
	v, text, err := f(s, id, r)
	if err != nil {
		return err
	}
	return out(cmd, v, text)
}
