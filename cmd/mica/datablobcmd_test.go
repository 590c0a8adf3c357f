package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/worker"
)

// TestDescribeErrorKeepsWords: error classes are dropped only where they start the
// message or one of its parts; "blobs not found" keeps its words.
func TestDescribeErrorKeepsWords(t *testing.T) {
	for _, c := range []struct {
		err       error
		msg, kind string
	}{
		{fmt.Errorf("%w: blob Data:ab", worker.ErrBlobsNotFound), "blobs not found: blob Data:ab", "not_found"},
		{&worker.BlobsNotFoundError{IDs: []base.BlobID{{Type: base.BlobData, Hash: base.Hash{0xab}}}}, "blobs not found: blob Data:ab" + strings.Repeat("0", 62), "not_found"},
		{fmt.Errorf("create: %w", base.Invalidf("bad item")), "create: bad item", "invalid"},
		{base.NotFoundf("chain X"), "chain X", "not_found"},
	} {
		if msg, kind := describeError(nil, c.err); msg != c.msg || kind != c.kind {
			t.Errorf("%v: %q (%s), want %q (%s)", c.err, msg, kind, c.msg, c.kind)
		}
	}
}

// TestUnknownApplicationFromMissingDescription: the missing blob of a failed lookup
// tells a mistyped application id from any other missing blob, by its id, whatever
// wraps the error.
func TestUnknownApplicationFromMissingDescription(t *testing.T) {
	id := base.ApplicationID{0xab}
	desc := base.BlobID{Type: base.BlobApplicationDescription, Hash: base.Hash(id)}
	other := base.BlobID{Type: base.BlobContractBytecode, Hash: base.Hash(id)}
	missing := fmt.Errorf("query: %w", &worker.BlobsNotFoundError{IDs: []base.BlobID{other, desc}})
	if err := unknownApplication(id, missing); !errors.Is(err, base.ErrNotFound) || !strings.Contains(err.Error(), "no application "+id.String()) {
		t.Errorf("description missing: %v", err)
	}
	for _, err := range []error{
		&worker.BlobsNotFoundError{IDs: []base.BlobID{other}},
		fmt.Errorf("%w: blob %s", worker.ErrBlobsNotFound, desc), // untyped: not a lookup of ours
		base.Invalidf("bad query"),
	} {
		if got := unknownApplication(id, err); got != err {
			t.Errorf("%v: became %v", err, got)
		}
	}
}

// TestReadBounded: reading stops one byte past the limit and refuses more.
func TestReadBounded(t *testing.T) {
	if b, err := readBounded(strings.NewReader("12345"), 5, "x"); err != nil || string(b) != "12345" {
		t.Fatalf("at the limit: %q %v", b, err)
	}
	r := &countingReader{r: bytes.NewReader(make([]byte, 1<<20))}
	if _, err := readBounded(r, 10, "x"); !errors.Is(err, client.ErrBlobTooLarge) && !strings.Contains(fmt.Sprint(err), client.ErrBlobTooLarge.Error()) {
		t.Fatalf("over the limit: %v", err)
	}
	if r.n > 1<<16 {
		t.Fatalf("read %d bytes for a limit of 10", r.n)
	}
}

type countingReader struct {
	r *bytes.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
