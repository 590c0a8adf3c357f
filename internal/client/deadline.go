package client

import (
	"context"
	"slices"
	"time"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/protocol"
)

// Deadlines that scale with the work (issue #11, "publishing that never fails for being
// slow"). A block that publishes bytecode, or creates an application of a module, makes
// every validator compile the module before it votes: seconds for a module of a few MiB,
// more when several validators share a machine. The calls that carry such a block get
// that much longer than the usual per-call deadline, so a slow but progressing network
// answers within the first round instead of timing it out (which costs a round change
// and a second proposal).

// DefaultTimeoutPerMiB is the extra time per MiB of (compressed) bytecode a block makes
// validators compile. A MiB of compressed Go guest is about 3.5 MiB of Wasm, which
// takes a few seconds of one core to compile; the margin covers validators that share
// a loaded machine (four on two cores in `mica net up`). Waiting longer costs nothing
// when validators answer: a call ends with its answer, and fanout stops at a quorum.
const DefaultTimeoutPerMiB = 30 * time.Second

// DefaultMinBandwidth is the least rate, in bytes per second, at which a call to a
// validator is assumed to move the bytes it carries (Config.MinBandwidth): send them,
// and have the validator decode, hash, check and store them. Publishing a data blob
// through four in-process validators took about 30 ms per MiB per validator on a loaded
// two-core machine (2026-12-07); over gRPC to four validators sharing two cores, with
// disk writes, and a machine busier still, it can be many times that. 1 MiB/s (16 s for
// a 16 MiB blob, on top of RequestTimeout) keeps a slow but progressing validator's call
// from being cut off (and retried, or failed) with a wide margin. The extension costs
// nothing when validators answer: a call ends with its answer; it only bounds how long
// a validator that never answers holds the call, which for a small block is
// milliseconds more.
const DefaultMinBandwidth = 1 << 20

// transferTime is the extra time for a call that carries n bytes: n at the floor
// bandwidth (0 if Config.MinBandwidth is negative).
func (c *Client) transferTime(n int) time.Duration {
	bw := c.cfg.MinBandwidth
	if n <= 0 || bw <= 0 {
		return 0
	}
	return time.Duration(float64(n) / float64(bw) * float64(time.Second))
}

// transferWork returns the extra time the calls carrying a block need for its bytes:
// the block's encoding and the blobs it publishes, carried with the proposal (blobs) or
// uploaded from the local store to a validator that lacks them (updateValidator), by
// their sizes as the local node knows them.
func (c *Client) transferWork(ctx context.Context, block *protocol.ProposedBlock, blobs []protocol.Blob) time.Duration {
	n := codec.Size(block)
	for i := range blobs {
		n += len(blobs[i].Content)
	}
	published := block.PublishedBlobIDs()
	if len(published) <= len(blobs) {
		// Every blob it publishes is carried (hashing the blobs to make sure would
		// cost more than their transfer time is worth).
		return c.transferTime(n)
	}
	carried := make(map[base.BlobID]bool, len(blobs))
	for i := range blobs {
		carried[blobs[i].ID()] = true
	}
	for _, id := range published {
		if carried[id] {
			continue
		}
		if size, ok := c.localBlobSize(ctx, id); ok {
			n += size
		}
	}
	return c.transferTime(n)
}

// uploadContext returns ctx extended (WithExtraCallTime) for a call that uploads blob.
func (c *Client) uploadContext(ctx context.Context, blob *protocol.Blob) context.Context {
	return WithExtraCallTime(ctx, c.transferTime(len(blob.Content)))
}

// maxExtraCallTime caps the extension.
const maxExtraCallTime = 5 * time.Minute

type extraCallTimeKey struct{}

// WithExtraCallTime returns a context whose calls to validators may take d longer than
// their usual deadline (the client's RequestTimeout, the RPC connection's call timeout).
func WithExtraCallTime(ctx context.Context, d time.Duration) context.Context {
	if d <= 0 {
		return ctx
	}
	return context.WithValue(ctx, extraCallTimeKey{}, min(d+ExtraCallTime(ctx), maxExtraCallTime))
}

// ExtraCallTime returns the extension WithExtraCallTime set on ctx (zero if none).
func ExtraCallTime(ctx context.Context) time.Duration {
	d, _ := ctx.Value(extraCallTimeKey{}).(time.Duration)
	return d
}

// callTimeout is the deadline of one call to a validator under ctx.
func (c *Client) callTimeout(ctx context.Context) time.Duration {
	return c.cfg.RequestTimeout + ExtraCallTime(ctx)
}

// withCallTimeout returns ctx bounded by the deadline of one call to a validator: every
// call to a single validator carries it, so that one that never answers (a faulty or
// Byzantine validator) delays the client by that much, and the next one is asked.
func (c *Client) withCallTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.callTimeout(ctx))
}

// compileWork returns the extra time validators need for the bytecode a block makes
// them compile: the bytecode blobs it publishes (carried or already uploaded), the
// contracts of the applications it creates, and the contract and service of each
// application whose operations it executes, by their compressed sizes as the local node
// or blobs know them.
//
// An operation of an application may be the first run of its bytecode on a validator
// (compiling and starting its contract, and its service if the contract asks it as an
// oracle), which compiled it ahead at its publication only if it had nothing else to
// compile. Every path that proposes an application's operations (the CLI, the node
// service's mutations, MCP tools) gets that time here. Waiting longer costs nothing when
// validators answer: a call ends with its answer.
func (c *Client) compileWork(ctx context.Context, block *protocol.ProposedBlock, blobs []protocol.Blob) time.Duration {
	sizes := make(map[base.BlobID]int)
	for i := range blobs {
		if t := blobs[i].ID().Type; t == base.BlobContractBytecode || t == base.BlobServiceBytecode {
			sizes[blobs[i].ID()] = len(blobs[i].Content)
		}
	}
	localSize := func(id base.BlobID) {
		if _, ok := sizes[id]; ok {
			return
		}
		if n, ok := c.localBlobSize(ctx, id); ok {
			sizes[id] = n
		}
	}
	for _, id := range block.PublishedBlobIDs() {
		if id.Type == base.BlobContractBytecode || id.Type == base.BlobServiceBytecode {
			localSize(id)
		}
	}
	for _, tx := range block.Transactions {
		if tx.Operation == nil {
			continue
		}
		if ca, ok := tx.Operation.System.(*protocol.CreateApplication); ok {
			localSize(ca.Module.ContractBlob())
		}
	}
	total := 0
	for _, n := range sizes {
		total += n
	}
	var apps []base.ApplicationID
	for _, tx := range block.Transactions {
		if op := tx.Operation; op != nil && !op.IsSystem() && !slices.Contains(apps, op.App) {
			apps = append(apps, op.App)
			total += c.firstRunSize(ctx, op.App)
		}
	}
	if total == 0 {
		return 0
	}
	return time.Duration(float64(c.cfg.TimeoutPerMiB) * float64(total) / (1 << 20))
}

// maxAppSizes bounds Client.appSizes; past it the cache starts over.
const maxAppSizes = 1024

// firstRunSize returns the compressed size of application app's contract and service
// bytecode, as the local node knows them (0 if it lacks the application's description;
// a bytecode blob it lacks counts 0). Sizes found are cached: a block of the
// application's operations does not read its bytecode from the store.
func (c *Client) firstRunSize(ctx context.Context, app base.ApplicationID) int {
	c.mu.Lock()
	n, ok := c.appSizes[app]
	c.mu.Unlock()
	if ok {
		return n
	}
	st := c.cfg.Local.Storage()
	d, err := st.Blob(ctx, base.BlobID{Type: base.BlobApplicationDescription, Hash: base.Hash(app)})
	if err != nil {
		return 0
	}
	var desc protocol.ApplicationDescription
	if codec.Unmarshal(d.Content, &desc) != nil {
		return 0
	}
	complete := true
	for _, id := range []base.BlobID{desc.Module.ContractBlob(), desc.Module.ServiceBlob()} {
		if size, ok := c.localBlobSize(ctx, id); ok {
			n += size
		} else {
			complete = false
		}
	}
	if complete {
		c.mu.Lock()
		if len(c.appSizes) >= maxAppSizes {
			clear(c.appSizes)
		}
		c.appSizes[app] = n
		c.mu.Unlock()
	}
	return n
}

// localBlobSize returns the size of a blob's content in the local store and whether it
// holds the blob. The content is not read (storage.BlobSize).
func (c *Client) localBlobSize(ctx context.Context, id base.BlobID) (int, bool) {
	n, err := c.cfg.Local.Storage().BlobSize(ctx, id)
	return n, err == nil
}
