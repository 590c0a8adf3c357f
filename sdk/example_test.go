package sdk_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/micachain/mica/sdk"
	"github.com/micachain/mica/sdk/sdktest"
)

// greeter stores a greeting, emits it to the stream "greetings" and asks an HTTP
// oracle to translate it.
type greeter struct{}

func (greeter) Instantiate(rt *sdk.Runtime, arg []byte) error {
	rt.Set([]byte("greeting"), arg)
	return nil
}

func (greeter) ExecuteOperation(rt *sdk.Runtime, op []byte) ([]byte, error) {
	switch string(op) {
	case "emit":
		v, _ := rt.Get([]byte("greeting"))
		i := rt.Emit("greetings", v)
		return fmt.Appendf(nil, "event %d", i), nil
	case "translate":
		v, _ := rt.Get([]byte("greeting"))
		resp, err := rt.HTTPRequest(sdk.HTTPRequest{
			Method: "POST",
			URL:    "https://translate.example/fr",
			Body:   v,
		})
		if err != nil {
			return nil, err
		}
		if resp.Status != http.StatusOK {
			return nil, fmt.Errorf("oracle answered %d", resp.Status)
		}
		rt.Set([]byte("greeting"), resp.Body)
		return resp.Body, nil
	}
	return nil, fmt.Errorf("unknown operation %q", op)
}

func (greeter) ExecuteMessage(*sdk.Runtime, []byte) error { return nil }

// A contract's storage writes, events and HTTP oracle run natively with sdktest; on a
// network, every validator performs the HTTP request and records the response in the
// block.
func Example() {
	chain := sdktest.NewChain()
	chain.HTTP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.EqualFold(string(body), "hello") {
			fmt.Fprint(w, "bonjour")
		}
	})
	app := greeter{}
	if err := chain.Instantiate(app, []byte("hello")); err != nil {
		panic(err)
	}
	out, err := chain.ExecuteOperation(app, []byte("emit"))
	fmt.Println(string(out), err)
	out, err = chain.ExecuteOperation(app, []byte("translate"))
	fmt.Println(string(out), err)
	fmt.Println(chain.HTTPRequests[0].Method, chain.HTTPRequests[0].URL)
	// Output:
	// event 0 <nil>
	// bonjour <nil>
	// POST https://translate.example/fr
}
