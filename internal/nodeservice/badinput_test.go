package nodeservice_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestBadInput: malformed GraphQL, bad arguments, over-deep queries and unknown chains
// get clear GraphQL errors or HTTP statuses; nothing panics.
func TestBadInput(t *testing.T) {
	_, a, _ := twoUsers(t)
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
