package nodeservice_test

import (
	"testing"

	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/protocol/prototest"
)

func twoUsers(t *testing.T) (*testNet, *service, *service) {
	alice, bob := prototest.Key("alice"), prototest.Key("bob")
	n := newTestNet(t, []*crypto.PrivateKey{alice, bob}, nil)
	return n, n.service(0, serviceOpts{}), n.service(1, serviceOpts{})
}

// TestSystemQueries: the wallet, a chain and its (genesis-only) history as the service
// shows them.
func TestSystemQueries(t *testing.T) {
	n, a, _ := twoUsers(t)
	d := a.gql(`{ wallet { defaultChain owners chains { chainId owner isDefault nextHeight balance } } }`, nil)
	if got := path(d, "wallet", "defaultChain"); got != n.chains[0].String() {
		t.Fatalf("default chain %v, want %s", got, n.chains[0])
	}
	if got := path(d, "wallet", "chains", 0, "balance"); got != "100" {
		t.Fatalf("balance %v, want 100", got)
	}
	if got := path(d, "wallet", "owners", 0); got != n.owners[0].Public().Owner().String() {
		t.Fatalf("owner %v", got)
	}
	d = a.gql(`query($c: ChainID) { chain(chain: $c) { chainId balance epoch nextHeight closed ownership { superOwners multiLeaderRounds } inbox { pendingBundles } outbox { targets } applications { applicationId } blocks { height } } }`,
		map[string]any{"c": n.chains[1].String()})
	if got := path(d, "chain", "chainId"); got != n.chains[1].String() {
		t.Fatalf("chain %v", got)
	}
	if got := path(d, "chain", "ownership", "superOwners", 0); got != n.owners[1].Public().Owner().String() {
		t.Fatalf("super owner %v", got)
	}
	if got := path(d, "chain", "blocks"); len(got.([]any)) != 0 {
		t.Fatalf("blocks of a new chain: %v", got)
	}
}

// TestTransferMutation: a transfer mutation commits a block; the recipient's service
// receives it (processInbox mutation) and both balances show it.
func TestTransferMutation(t *testing.T) {
	n, a, b := twoUsers(t)
	d := a.gql(`mutation($to: Account!) { transfer(recipient: $to, amount: "2.5") { chainId height hash } }`, map[string]any{"to": n.chains[1].String()})
	if got := path(d, "transfer", "height"); got != float64(0) {
		t.Fatalf("transfer block height %v, want 0", got)
	}
	hash := path(d, "transfer", "hash").(string)
	d = a.gql(`query($h: Hash) { block(hash: $h) { height operations { kind summary json } outgoingMessages { destination kind summary } certificate { signatures } } }`, map[string]any{"h": hash})
	if got := path(d, "block", "operations", 0, "kind"); got != "Transfer" {
		t.Fatalf("operation kind %v", got)
	}
	if got := path(d, "block", "outgoingMessages", 0, "destination"); got != n.chains[1].String() {
		t.Fatalf("message destination %v", got)
	}
	if got := path(d, "block", "certificate", "signatures"); got.(float64) < 3 {
		t.Fatalf("signatures %v", got)
	}
	eventually(t, "the bundle in bob's inbox", func() bool {
		d := b.gql(`{ chain { inbox { pendingBundles bundles { origin summary } } } }`, nil)
		return path(d, "chain", "inbox", "pendingBundles") == float64(1)
	})
	d = b.gql(`mutation { processInbox { height } }`, nil)
	if got := path(d, "processInbox", 0, "height"); got != float64(0) {
		t.Fatalf("processInbox %v", d)
	}
	d = b.gql(`{ chain { balance } }`, nil)
	if got := path(d, "chain", "balance"); got != "102.5" {
		t.Fatalf("bob's balance %v, want 102.5", got)
	}
	d = a.gql(`{ chain { balance blocks { height } } }`, nil)
	if got := path(d, "chain", "balance"); got != "97.5" {
		t.Fatalf("alice's balance %v, want 97.5", got)
	}
}
