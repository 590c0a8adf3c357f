package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/protocol"
)

// Data blobs: content-addressed bytes published in a block and readable by any
// contract on any chain (sdk.Runtime.ReadDataBlob). A blob's hash is the protocol's
// data blob id (client.DataBlobID), the name an external store serves it under.

func dataBlobCommands() []*cobra.Command {
	return []*cobra.Command{publishDataBlobCommand(), readDataBlobCommand()}
}

// blobFetchTimeout bounds the download from an external store.
const blobFetchTimeout = 60 * time.Second

// readBounded reads r up to limit bytes; more is an ErrBlobTooLarge error naming what.
func readBounded(r io.Reader, limit uint64, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(min(limit, 1<<40))+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	if uint64(len(b)) > limit {
		return nil, base.Invalidf("%s: %v (more than %d bytes); split it or store it elsewhere", what, client.ErrBlobTooLarge, limit)
	}
	return b, nil
}

// readBlobFile reads a file of at most limit bytes.
func readBlobFile(path string, limit uint64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, base.Invalidf("cannot read %s: %v", path, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil {
		if st.IsDir() {
			return nil, base.Invalidf("cannot read %s: it is a directory", path)
		}
		if uint64(st.Size()) > limit {
			return nil, base.Invalidf("file %s: %v (%d bytes, limit %d); split it or store it elsewhere", path, client.ErrBlobTooLarge, st.Size(), limit)
		}
	}
	return readBounded(f, limit, "file "+path)
}

// fetchBlob downloads the content at url (at most limit bytes) and checks that it is the
// data blob with the given hash.
func fetchBlob(ctx context.Context, url string, want base.Hash, limit uint64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, blobFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, base.Invalidf("--url %q: %v", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, base.NotFoundf("fetch %s: the store answered %s", url, resp.Status)
	}
	if resp.ContentLength > 0 && uint64(resp.ContentLength) > limit {
		return nil, base.Invalidf("content at %s: %v (%d bytes, limit %d)", url, client.ErrBlobTooLarge, resp.ContentLength, limit)
	}
	b, err := readBounded(resp.Body, limit, "content at "+url)
	if err != nil {
		return nil, err
	}
	if got := client.DataBlobID(b).Hash; got != want {
		return nil, base.Invalidf("content at %s does not match --hash %s (its hash is %s): refusing to publish it", url, want, got)
	}
	return b, nil
}

func publishDataBlobCommand() *cobra.Command {
	var chain, url, hash string
	cmd := &cobra.Command{
		Use:   "publish-data-blob [FILE]",
		Short: "Publish a file, or content fetched from an external store (--url, --hash), as a data blob; prints its hash",
		Long: `Publish a data blob in a block on a chain of the wallet and print its hash, the
argument contracts pass to ReadDataBlob.

  mica publish-data-blob FILE
  mica publish-data-blob --url https://store.example/v1/blobs/ID --hash HASH

With --url the content is downloaded (at most the policy's MaxBlobSize) and published
only if its hash is HASH. With FILE, --hash is optional and checked if given.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var want *base.Hash
			if hash != "" {
				h, err := base.ParseHash(hash)
				if err != nil {
					return fmt.Errorf("--hash: %w", err)
				}
				want = &h
			}
			switch {
			case len(args) == 1 && url != "":
				return &usageError{msg: "publish-data-blob: give a FILE or --url, not both"}
			case len(args) == 0 && url == "":
				return &usageError{msg: "publish-data-blob: give a FILE to publish, or --url URL --hash HASH to publish content from an external store"}
			case url != "" && want == nil:
				return &usageError{msg: "publish-data-blob: --url needs --hash, the hash the content must have"}
			}
			var hashOut base.Hash
			// The content is read (or fetched) once: a retry of the commit publishes
			// the same blob, never a file changed in between.
			var content []byte
			cert, err := commitOn(cmd, chain, func(ctx context.Context, cc *client.ChainClient) (*protocol.Certificate, error) {
				if content == nil {
					c, err := blobContent(ctx, cc, url, want, args)
					if err != nil {
						return nil, err
					}
					content = c
				}
				h, cert, err := cc.PublishDataBlob(ctx, content)
				hashOut = h
				return cert, err
			})
			if err != nil {
				return err
			}
			if cert == nil {
				return errors.New("nothing was committed")
			}
			return out(cmd, map[string]any{"hash": hashOut.String(), "block": blockResult(cert)}, func(o io.Writer) { fmt.Fprintln(o, hashOut) })
		},
	}
	cmd.Flags().StringVar(&chain, "chain", "", "chain publishing the blob (default: the default chain)")
	cmd.Flags().StringVar(&url, "url", "", "fetch the content from this URL of an external store instead of a file")
	cmd.Flags().StringVar(&hash, "hash", "", "the hash the content must have (required with --url)")
	return cmd
}

// blobContent reads what publish-data-blob publishes: the file args[0], or the content
// at url, which must hash to want (checked for a file when given), within the chain's
// policy's MaxBlobSize.
func blobContent(ctx context.Context, cc *client.ChainClient, url string, want *base.Hash, args []string) ([]byte, error) {
	policy, err := cc.Policy(ctx)
	if err != nil {
		return nil, err
	}
	if url != "" {
		return fetchBlob(ctx, url, *want, policy.MaxBlobSize)
	}
	content, err := readBlobFile(args[0], policy.MaxBlobSize)
	if err == nil && want != nil {
		if got := client.DataBlobID(content).Hash; got != *want {
			return nil, base.Invalidf("file %s does not match --hash %s (its hash is %s)", args[0], *want, got)
		}
	}
	return content, err
}

func readDataBlobCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "read-data-blob HASH",
		Short: "Read a published data blob (from the local node or the validators) to stdout or --output FILE",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := base.ParseHash(args[0])
			if err != nil {
				return err
			}
			s, err := connect(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			content, err := s.c.ReadDataBlob(cmd.Context(), h)
			if err != nil {
				if base.IsNotFound(err) {
					return base.NotFoundf("data blob %s: no validator has it (was it published in a confirmed block? mica publish-data-blob)", h)
				}
				return err
			}
			if output != "" {
				if err := os.WriteFile(output, content, 0o644); err != nil {
					return fmt.Errorf("write %s: %w", output, err)
				}
				return out(cmd, map[string]any{"hash": h.String(), "size": len(content), "output": output}, func(o io.Writer) {
					fmt.Fprintf(o, "wrote %d bytes to %s\n", len(content), output)
				})
			}
			if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
				return out(cmd, map[string]any{"hash": h.String(), "size": len(content), "contentBase64": content}, nil)
			}
			_, err = cmd.OutOrStdout().Write(content)
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the blob to this file instead of stdout")
	return cmd
}
