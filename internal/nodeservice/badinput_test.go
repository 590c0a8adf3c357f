package nodeservice_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/nodeservice"
	"github.com/micachain/mica/internal/protocol/prototest"
)

// TestBadInput: malformed GraphQL, bad arguments, over-deep queries and unknown chains
// get clear GraphQL errors or HTTP statuses; nothing panics. A chain id pasted where a
// recipient's owner goes (which read as an owner address, sending the tokens to an
// account no key controls) is refused.
func TestBadInput(t *testing.T) {
	n, a, _ := twoUsers(t)
	own, other := n.chains[0].String(), n.chains[1].String()
	unknown := strings.Repeat("ab", 32)
	deep := "{ chain { blocks { certificate { hash } " + strings.Repeat("", 0) + "} } }"
	for _, c := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"not JSON", `{"query": `, http.StatusBadRequest, "json"},
		{"syntax", `{"query": "{ wallet { "}`, http.StatusUnprocessableEntity, "Expected Name"},
		{"unknown field", `{"query": "{ nope }"}`, http.StatusUnprocessableEntity, "Cannot query field"},
		{"bad chain id", `{"query": "{ chain(chain: \"xyz\") { balance } }"}`, http.StatusOK, "chain \"xyz\""},
		{"unknown chain", `{"query": "{ chain(chain: \"` + unknown + `\") { balance } }"}`, http.StatusOK, "unknown chain"},
		{"bad amount", `{"query": "mutation { transfer(recipient: \"` + unknown + `\", amount: \"-1\") { hash } }"}`, http.StatusOK, "amount"},
		{"chain id as owner", `{"query": "mutation { transfer(recipient: \"` + own + "@" + other + `\", amount: \"1\") { hash } }"}`, http.StatusOK, "is the id of chain"},
		{"own chain id as owner", `{"query": "mutation { transfer(recipient: \"` + other + "@" + other + `\", amount: \"1\") { hash } }"}`, http.StatusOK, "not an owner"},
		{"claim to a chain id as owner", `{"query": "mutation { claim(owner: \"0x` + unknown + `\", source: \"` + other + `\", recipient: \"` + own + "@" + own + `\", amount: \"1\") { hash } }"}`, http.StatusOK, "not an owner"},
		{"limit too large", `{"query": "{ blocks(limit: 1000) { height } }"}`, http.StatusOK, "limit"},
		{"bad blob id", `{"query": "{ blob(id: \"zz\") { size } }"}`, http.StatusOK, "blob id"},
		{"ok deep-ish", `{"query": "` + deep + `"}`, http.StatusOK, ""},
	} {
		status, out := a.post("/", "", c.body)
		msg := firstError(out)
		if status != c.status || !strings.Contains(strings.ToLower(msg), strings.ToLower(c.want)) || (c.want == "" && msg != "") {
			t.Errorf("%s: status %d, error %q; want status %d and an error containing %q", c.name, status, msg, c.status, c.want)
		}
	}
}

func twoKeys() []*crypto.PrivateKey {
	return []*crypto.PrivateKey{prototest.Key("alice"), prototest.Key("bob")}
}

// TestTokens: with a token on loopback, queries are open, mutations need the token, a
// wrong token is refused; with TokenForQueries every request needs it.
func TestTokens(t *testing.T) {
	n := newTestNet(t, twoKeys(), nil)
	const token = "0123456789abcdef-token"
	s := n.service(0, serviceOpts{token: token})
	transfer := `{"query": "mutation { transfer(recipient: \"` + n.chains[1].String() + `\", amount: \"1\") { hash } }"}`
	if status, out := s.post("/", "", `{"query": "{ wallet { defaultChain } }"}`); status != http.StatusOK || firstError(out) != "" {
		t.Errorf("query without the token: %d %v", status, out)
	}
	if _, out := s.post("/", "", transfer); !strings.Contains(firstError(out), "bearer token") {
		t.Errorf("mutation without the token: %v", out)
	}
	if status, out := s.post("/", "wrong-token-wrong-token", `{"query": "{ wallet { defaultChain } }"}`); status != http.StatusUnauthorized || !strings.Contains(firstError(out), "wrong bearer token") {
		t.Errorf("wrong token: %d %v", status, out)
	}
	if status, out := s.post("/", token, transfer); status != http.StatusOK || firstError(out) != "" {
		t.Errorf("mutation with the token: %d %v", status, out)
	}
	d := s.gql(`{ chain { balance } }`, nil)
	if path(d, "chain", "balance") != "99" {
		t.Errorf("balance after the transfer: %v", d)
	}
	strict := n.service(1, serviceOpts{token: token, tokenForQueries: true})
	if status, _ := strict.post("/", "", `{"query": "{ wallet { defaultChain } }"}`); status != http.StatusUnauthorized {
		t.Errorf("TokenForQueries: a query without the token got %d", status)
	}
	if status, out := strict.post("/", token, `{"query": "{ wallet { defaultChain } }"}`); status != http.StatusOK || firstError(out) != "" {
		t.Errorf("TokenForQueries: with the token: %d %v", status, out)
	}
}

// TestLimits: an oversize body, an over-deep query and an over-complex one are refused
// with a clear message.
func TestLimits(t *testing.T) {
	n := newTestNet(t, twoKeys(), nil)
	s := n.service(0, serviceOpts{limits: nodeservice.Limits{MaxBody: 4096, MaxDepth: 4, MaxComplexity: 200}})
	big := `{"query": "{ wallet { defaultChain } }", "variables": {"pad": "` + strings.Repeat("x", 5000) + `"}}`
	if status, out := s.post("/", "", big); status != http.StatusRequestEntityTooLarge || !strings.Contains(firstError(out), "exceeds 4096 bytes") {
		t.Errorf("oversize body: %d %v", status, out)
	}
	if status, out := s.post("/chains/"+n.chains[0].String()+"/applications/"+strings.Repeat("00", 32), "", big); status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversize body to an application: %d %v", status, out)
	}
	deep := `{"query": "{ chain { blocks { incomingBundles { messages { kind } } } } }"}`
	if _, out := s.post("/", "", deep); !strings.Contains(firstError(out), "deeper than 4") {
		t.Errorf("deep query: %v", out)
	}
	viaFragment := `{"query": "query { chain { ...F } } fragment F on Chain { blocks { incomingBundles { messages { kind } } } }"}`
	if _, out := s.post("/", "", viaFragment); !strings.Contains(firstError(out), "deeper than 4") {
		t.Errorf("deep query through a fragment: %v", out)
	}
	complex := `{"query": "{ blocks(limit: 100) { height operations { kind } events { index } } }"}`
	if _, out := s.post("/", "", complex); !strings.Contains(firstError(out), "complexity") {
		t.Errorf("complex query: %v", out)
	}
}
