package execution

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/kv"
	"github.com/micachain/mica/internal/protocol"
)

// paramsApp is a contract and service that answer with their application's
// parameters; Instantiate stores them under "p".
type paramsApp struct{}

func (paramsApp) Instantiate(ctx context.Context, rt ContractRuntime, _ []byte) error {
	p, err := rt.ApplicationParameters(ctx)
	if err != nil {
		return err
	}
	var b kv.Batch
	b.Put([]byte("p"), p)
	return rt.WriteBatch(ctx, &b)
}
func (paramsApp) ExecuteOperation(ctx context.Context, rt ContractRuntime, _ []byte) ([]byte, error) {
	return rt.ApplicationParameters(ctx)
}
func (paramsApp) ExecuteMessage(context.Context, ContractRuntime, []byte) error { return nil }
func (paramsApp) Finalize(context.Context, ContractRuntime) error               { return nil }
func (paramsApp) HandleQuery(ctx context.Context, rt ServiceRuntime, _ []byte) ([]byte, error) {
	return rt.ApplicationParameters(ctx)
}

// describedLoader loads paramsApp for every application whose description it can read,
// reading it through blobs as the Wasm loader does; a native one reads nothing.
type describedLoader struct{ native bool }

func (l describedLoader) load(ctx context.Context, app base.ApplicationID, blobs BlobReader) (paramsApp, error) {
	if l.native {
		return paramsApp{}, nil
	}
	b, err := blobs.ReadBlob(ctx, base.BlobID{Type: base.BlobApplicationDescription, Hash: base.Hash(app)})
	if err != nil {
		return paramsApp{}, err
	}
	var d protocol.ApplicationDescription
	return paramsApp{}, codec.Unmarshal(b.Content, &d)
}

func (l describedLoader) LoadContract(ctx context.Context, app base.ApplicationID, blobs BlobReader) (UserContract, error) {
	return l.load(ctx, app, blobs)
}

func (l describedLoader) LoadService(ctx context.Context, app base.ApplicationID, blobs BlobReader) (UserService, error) {
	return l.load(ctx, app, blobs)
}

// TestApplicationParameters: contracts (when instantiated, in the transaction that
// creates the application, and later) and services read the parameters of the
// application's description; reading them records no oracle response, so replay
// gives the same outcome.
func TestApplicationParameters(t *testing.T) {
	n := newNet(t)
	n.loader = describedLoader{}
	s, id := userChain(t, n)
	params := []byte(`{"ticker_symbol":"MICA"}`)
	create := &protocol.CreateApplication{Module: protocol.ModuleID{Contract: base.Hash(sha(30)), Service: base.Hash(sha(31))}, Parameters: params}
	out := mustExec(t, s, tc(id, &alice), sysTx(create), nil)
	app := base.ApplicationID(out.Result)
	if len(out.Blobs) != 1 || out.Blobs[0].Type != base.BlobApplicationDescription || len(out.OracleResponses) != 0 {
		t.Fatalf("creation: blobs %v, oracle responses %v", out.Blobs, out.OracleResponses)
	}
	n.commit(s)
	n.res.addBlob(out.Blobs[0]) // the block's created blobs are stored with it
	s = n.load(id)
	if v, ok, err := s.appStorage(app).get(bg, []byte("p")); err != nil || !ok || string(v) != string(params) {
		t.Fatalf("Instantiate stored %q %v %v", v, ok, err)
	}

	live := LiveOracles(n.res)
	out = mustExec(t, s, tc(id, &alice), userTx(app, nil), live)
	if string(out.Result) != string(params) {
		t.Fatalf("operation answered %q", out.Result)
	}
	// One blob read: the description, by the loader. The parameters add none.
	if len(out.OracleResponses) != 1 || out.OracleResponses[0].Kind != protocol.OracleBlob {
		t.Fatalf("oracle responses %+v", out.OracleResponses)
	}
	s.Rollback()
	replay := ReplayOracles(n.res, out.OracleResponses)
	again := mustExec(t, s, tc(id, &alice), userTx(app, nil), replay)
	if err := replay.Finish(); err != nil || string(again.Result) != string(params) {
		t.Fatalf("replay: %q %v", again.Result, err)
	}
	got, err := s.QueryApplication(bg, QueryContext{ChainID: id}, app, nil, n.res)
	if err != nil || string(got) != string(params) {
		t.Fatalf("service read %q %v", got, err)
	}

	// Without parameters: empty, not an error.
	s.Rollback()
	create = &protocol.CreateApplication{Module: create.Module}
	out = mustExec(t, s, tc(id, &alice), sysTx(create), nil)
	app = base.ApplicationID(out.Result)
	n.res.addBlob(out.Blobs[0])
	if got, err := s.QueryApplication(bg, QueryContext{ChainID: id}, app, nil, n.res); err != nil || len(got) != 0 {
		t.Fatalf("no parameters: %q %v", got, err)
	}
	// An application without a description (a native one) has no parameters to read:
	// a missing blob, never a panic.
	n.loader = describedLoader{native: true}
	s = n.load(id)
	missing := base.ApplicationID(sha(32))
	_, err = s.QueryApplication(bg, QueryContext{ChainID: id}, missing, nil, n.res)
	var mb *MissingBlobError
	if !errors.As(err, &mb) || !strings.Contains(err.Error(), "parameters of application") {
		t.Fatalf("missing description: %v", err)
	}
	_, err = s.ExecuteTransaction(bg, tc(id, &alice), userTx(missing, nil), LiveOracles(n.res))
	if !errors.As(err, &mb) {
		t.Fatalf("missing description, contract: %v", err)
	}
}

// TestApplicationCreatedEarlierInBlock: a transaction may use an application that an
// earlier transaction of the same block created, before the block (and the
// application's description blob) is stored: the loader and the parameters call read
// the description from the block's created blobs, recording no oracle response, so a
// replay of the block gives the same outcome. A new block no longer sees them.
func TestApplicationCreatedEarlierInBlock(t *testing.T) {
	n := newNet(t)
	n.loader = describedLoader{}
	s, id := userChain(t, n)
	params := []byte(`{"ticker_symbol":"MICA"}`)
	create := &protocol.CreateApplication{Module: protocol.ModuleID{Contract: base.Hash(sha(30)), Service: base.Hash(sha(31))}, Parameters: params}
	var app base.ApplicationID
	block := func(live bool, recorded [][]protocol.OracleResponse) [][]protocol.OracleResponse {
		t.Helper()
		s.BeginBlock()
		var responses [][]protocol.OracleResponse
		for i, tx := range []*protocol.Transaction{sysTx(create), nil, nil} {
			if tx == nil {
				tx = userTx(app, nil)
			}
			o := LiveOracles(n.res)
			if !live {
				o = ReplayOracles(n.res, recorded[i])
			}
			c := tc(id, &alice)
			c.Index = uint32(i)
			out, err := s.ExecuteTransaction(bg, c, tx, o)
			if err == nil {
				err = o.Finish()
			}
			if err != nil {
				t.Fatalf("live %v, transaction %d: %v", live, i, err)
			}
			if i == 0 {
				app = base.ApplicationID(out.Result)
			} else if string(out.Result) != string(params) {
				t.Fatalf("transaction %d answered %q", i, out.Result)
			}
			responses = append(responses, out.OracleResponses)
		}
		return responses
	}
	recorded := block(true, nil)
	for i, r := range recorded {
		if len(r) != 0 {
			t.Fatalf("transaction %d recorded %v: the description is the block's own", i, r)
		}
	}
	s.Rollback()
	block(false, recorded)

	// The next block does not see the blobs of a block that was rolled back.
	s.Rollback()
	_, err := s.ExecuteTransaction(bg, tc(id, &alice), userTx(app, nil), LiveOracles(n.res))
	var mb *MissingBlobError
	if !errors.As(err, &mb) {
		t.Fatalf("description of a block that was rolled back: %v", err)
	}
}
