package webuitest

import "testing"

func TestIsLocal(t *testing.T) {
	for _, c := range []struct {
		url   string
		local bool
	}{
		{"http://127.0.0.1:8080/wallet/", true},
		{"ws://127.0.0.1:8080/", true},
		{"http://localhost/assets/x.js", true},
		{"http://[::1]:80/", true},
		{"http://127.3.4.5/", true},
		{"data:image/png;base64,AAAA", true},
		{"blob:http://127.0.0.1/abc", true},
		{"about:blank", true},
		{"https://cdn.jsdelivr.net/npm/graphiql@4.1.2/graphiql.min.js", false},
		{"https://unpkg.com/react", false},
		{"wss://example.com/", false},
		{"http://10.0.0.1/", false},
		{"http://localhost.example.com/", false},
		{"ftp://127.0.0.1/", false},
		{"://bad", false},
	} {
		if got := IsLocal(c.url); got != c.local {
			t.Errorf("IsLocal(%q) = %v, want %v", c.url, got, c.local)
		}
	}
}
