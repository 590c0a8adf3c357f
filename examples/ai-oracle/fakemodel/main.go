// Command fakemodel is a stand-in for the AI model the ai-oracle example asks: it
// answers POST {"prompt": P} with {"answer": "the answer to P is 42"}, the same for
// every caller, so that every validator records the same response.
//
//	cd examples && go run ./ai-oracle/fakemodel --listen 127.0.0.1:8080
//
// With --split N it answers differently to the first N distinct validators (by their
// Mica-Validator header) it hears from, to show a block failing cleanly when validators
// disagree: --split 1 of 4 still commits, --split 2 does not.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"sync"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	split := flag.Int("split", 0, "answer the first N distinct validators differently")
	flag.Parse()

	var mu sync.Mutex
	seen := map[string]int{}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST {\"prompt\": ...}", http.StatusMethodNotAllowed)
			return
		}
		var q struct {
			Prompt string `json:"prompt"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&q); err != nil {
			http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
			return
		}
		answer := fmt.Sprintf("the answer to %s is 42", q.Prompt)
		if v := r.Header.Get("Mica-Validator"); v != "" && v != "client" && *split > 0 {
			mu.Lock()
			if _, ok := seen[v]; !ok {
				seen[v] = len(seen)
			}
			i := seen[v]
			mu.Unlock()
			if i < *split {
				answer = fmt.Sprintf("the answer to %s is 41", q.Prompt)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"answer": answer})
	})
	log.Printf("fakemodel listening on http://%s/", *listen)
	log.Fatal(http.ListenAndServe(*listen, nil))
}
