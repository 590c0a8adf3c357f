package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/worker"
)

// ErrBlobTooLarge is returned when data blob content exceeds the policy's MaxBlobSize.
var ErrBlobTooLarge = errors.New("data blob larger than the policy's MaxBlobSize")

// DataBlobID returns the id of the data blob holding content: the hash a contract
// passes to ReadDataBlob and an external store names the content by.
func DataBlobID(content []byte) base.BlobID {
	b := protocol.NewBlob(base.BlobData, content)
	return b.ID()
}

// Policy returns the resource policy of the committee the chain trusts in its current
// epoch, after syncing the chain.
func (cc *ChainClient) Policy(ctx context.Context) (*protocol.ResourcePolicy, error) {
	c := cc.c
	if _, _, err := c.syncChain(ctx, cc.stateQuery()); err != nil {
		return nil, err
	}
	_, m, err := cc.currentMembers(ctx)
	if err != nil {
		return nil, err
	}
	return &m.committee.Policy, nil
}

// PublishDataBlob commits a block on the chain that publishes content as a data blob and
// returns the blob's hash and the block's certificate. Content over the policy's
// MaxBlobSize is refused with ErrBlobTooLarge before anything is sent.
func (cc *ChainClient) PublishDataBlob(ctx context.Context, content []byte) (base.Hash, *protocol.Certificate, error) {
	policy, err := cc.Policy(ctx)
	if err != nil {
		return base.Hash{}, nil, err
	}
	if uint64(len(content)) > policy.MaxBlobSize {
		return base.Hash{}, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBlobTooLarge, len(content), policy.MaxBlobSize)
	}
	blob := protocol.NewBlob(base.BlobData, content)
	id := blob.ID()
	cert, err := cc.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(&protocol.PublishDataBlob{Hash: id.Hash})}, []protocol.Blob{blob})
	if err != nil {
		return base.Hash{}, nil, err
	}
	if cert == nil {
		return base.Hash{}, nil, errors.New("publish data blob: nothing was committed")
	}
	return id.Hash, cert, nil
}

// ReadDataBlob returns the content of a published data blob: from the local node, or
// else from the first validator whose answer matches the hash (the content is checked
// against its address; nothing is stored). A blob nobody has is an error wrapping
// worker.ErrBlobsNotFound.
func (c *Client) ReadDataBlob(ctx context.Context, hash base.Hash) ([]byte, error) {
	id := base.BlobID{Type: base.BlobData, Hash: hash}
	b, err := c.blob(ctx, id)
	if err != nil {
		return nil, err
	}
	if got := b.ID(); got != id {
		return nil, fmt.Errorf("%w: blob %s has content hashing to %s", worker.ErrBlobsNotFound, id, got)
	}
	return b.Content, nil
}

// QueryApplication asks the application's service a query on the local replica of the
// chain and returns its answer and the operations it scheduled (a GraphQL mutation),
// for the caller to commit. Blobs the local node lacks (the service's bytecode of an
// application published on a chain it never synced, an application description) are
// fetched from the validators first.
func (c *Client) QueryApplication(ctx context.Context, id base.ChainID, app base.ApplicationID, query []byte) ([]byte, []protocol.Operation, error) {
	for range 8 {
		answer, ops, err := c.cfg.Local.QueryApplicationScheduling(ctx, id, app, query)
		if err == nil {
			return answer, ops, nil
		}
		fixed, ferr := c.fetchMissing(ctx, err)
		if ferr != nil {
			return nil, nil, ferr
		}
		if !fixed {
			return nil, nil, err
		}
	}
	return nil, nil, fmt.Errorf("query of application %s: blobs still missing after fetching them", app)
}
