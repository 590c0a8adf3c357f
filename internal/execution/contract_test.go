package execution

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
)

// Test-only native contracts proving the UserContract interfaces.
//
// counter stores a u64 under key "n". Operations (first byte):
//
//	'i' + u64: add the amount; returns the new value
//	'c' + callee(32) + u64: call callee with 'i' + u64, store and return its response
//	'r': call itself through the callee in argument order: the callee calls back (re-entrancy)
//	's' + chain(32) + u64: send a tracked, authenticated message carrying the u64
//	'p' + ...: panic
//	't' + chain(32) + u64: transfer attos from the authenticated owner to the chain account of chain
//	'b' + hash(32): read a data blob and store it under "blob"
//	'w' + u64: store a value of that many bytes under "big"
//	'x': return an unclassified error
//
// Messages carry a u64 that is added to the counter (subtracted when bouncing).
type counter struct {
	id     base.ApplicationID
	finals *[]base.ApplicationID
}

func u64(b []byte) uint64 {
	if len(b) < 8 {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

func le(n uint64) []byte { return binary.LittleEndian.AppendUint64(nil, n) }

func (c *counter) read(ctx context.Context, rt ContractRuntime) (uint64, error) {
	v, ok, err := rt.ReadValue(ctx, []byte("n"))
	if err != nil || !ok {
		return 0, err
	}
	return u64(v), nil
}

func (c *counter) add(ctx context.Context, rt ContractRuntime, n uint64, minus bool) (uint64, error) {
	cur, err := c.read(ctx, rt)
	if err != nil {
		return 0, err
	}
	if minus {
		cur -= n
	} else {
		cur += n
	}
	var b kv.Batch
	b.Put([]byte("n"), le(cur))
	return cur, rt.WriteBatch(ctx, &b)
}

func (c *counter) Instantiate(ctx context.Context, rt ContractRuntime, arg []byte) error {
	_, err := c.add(ctx, rt, u64(arg), false)
	return err
}

func (c *counter) ExecuteOperation(ctx context.Context, rt ContractRuntime, op []byte) ([]byte, error) {
	if len(op) == 0 {
		return nil, errors.New("empty operation")
	}
	switch op[0] {
	case 'i':
		n, err := c.add(ctx, rt, u64(op[1:]), false)
		return le(n), err
	case 'c', 'r':
		if len(op) < 33 {
			return nil, errors.New("short call")
		}
		callee := base.ApplicationID(op[1:33])
		arg := append([]byte{'i'}, op[33:]...)
		if op[0] == 'r' {
			// Ask the callee to call us back.
			arg = append([]byte{'c'}, c.id[:]...)
			arg = append(arg, op[33:]...)
		}
		resp, err := rt.CallApplication(ctx, true, callee, arg)
		if err != nil {
			return nil, err
		}
		var b kv.Batch
		b.Put([]byte("resp"), resp)
		return resp, rt.WriteBatch(ctx, &b)
	case 's':
		if len(op) < 41 {
			return nil, errors.New("short send")
		}
		return nil, rt.SendMessage(ctx, SendMessageRequest{Destination: base.ChainID(op[1:33]), Authenticated: true, Tracked: true, Message: op[33:41]})
	case 'p':
		panic("counter asked to panic")
	case 't':
		if len(op) < 41 {
			return nil, errors.New("short transfer")
		}
		owner := rt.AuthenticatedOwner()
		if owner == nil {
			return nil, errors.New("no authenticated owner")
		}
		return nil, rt.Transfer(ctx, *owner, base.Account{Chain: base.ChainID(op[1:33])}, base.AmountFromAttos(u64(op[33:41])))
	case 'b':
		if len(op) < 33 {
			return nil, errors.New("short blob")
		}
		data, err := rt.ReadDataBlob(ctx, base.Hash(op[1:33]))
		if err != nil {
			return nil, err
		}
		var b kv.Batch
		b.Put([]byte("blob"), data)
		return nil, rt.WriteBatch(ctx, &b)
	case 'o':
		// open a chain for the authenticated owner funded with N attos from the app
		if len(op) < 9 {
			return nil, errors.New("short open")
		}
		owner := rt.AuthenticatedOwner()
		if owner == nil {
			return nil, errors.New("no authenticated owner")
		}
		id, err := rt.OpenChain(ctx, protocol.SingleSuperOwner(*owner), base.AmountFromAttos(u64(op[1:9])))
		return id[:], err
	case 'w':
		var b kv.Batch
		b.Put([]byte("big"), make([]byte, u64(op[1:])))
		return nil, rt.WriteBatch(ctx, &b)
	case 'x':
		return nil, errors.New("plain failure")
	}
	return nil, fmt.Errorf("unknown operation %q", op[0])
}

func (c *counter) ExecuteMessage(ctx context.Context, rt ContractRuntime, msg []byte) error {
	info := rt.Message()
	if info == nil {
		return errors.New("no message info")
	}
	_, err := c.add(ctx, rt, u64(msg), info.IsBouncing)
	return err
}

func (c *counter) Finalize(ctx context.Context, rt ContractRuntime) error {
	if c.finals != nil {
		*c.finals = append(*c.finals, rt.ApplicationID())
	}
	if _, err := rt.CallApplication(ctx, false, rt.ApplicationID(), nil); err == nil {
		return errors.New("calls during finalize must be refused")
	}
	return nil
}

// counterService answers "get" with the counter value.
type counterService struct{}

func (counterService) HandleQuery(ctx context.Context, rt ServiceRuntime, q []byte) ([]byte, error) {
	v, _, err := rt.ReadValue(ctx, []byte("n"))
	return v, err
}

// nativeLoader loads counters for a fixed set of application ids.
type nativeLoader struct {
	apps   map[base.ApplicationID]bool
	finals []base.ApplicationID
}

func (l *nativeLoader) LoadContract(ctx context.Context, app base.ApplicationID, blobs BlobReader) (UserContract, error) {
	if !l.apps[app] {
		return nil, base.NotFoundf("application %s not found", app)
	}
	return &counter{id: app, finals: &l.finals}, nil
}

func (l *nativeLoader) LoadService(ctx context.Context, app base.ApplicationID, blobs BlobReader) (UserService, error) {
	if !l.apps[app] {
		return nil, base.NotFoundf("application %s not found", app)
	}
	return counterService{}, nil
}
