package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/worker"
)

func appCommands() []*cobra.Command {
	return []*cobra.Command{publishModuleCommand(), createApplicationCommand(), publishAndCreateCommand(), executeOperationCommand(), queryApplicationCommand()}
}

func parseModuleID(s string) (protocol.ModuleID, error) {
	c, sv, ok := strings.Cut(s, ":")
	if !ok {
		return protocol.ModuleID{}, fmt.Errorf("module id %q: want CONTRACT_HASH:SERVICE_HASH", s)
	}
	ch, err := base.ParseHash(c)
	if err != nil {
		return protocol.ModuleID{}, err
	}
	sh, err := base.ParseHash(sv)
	if err != nil {
		return protocol.ModuleID{}, err
	}
	return protocol.ModuleID{Contract: ch, Service: sh}, nil
}

func readModule(contractPath, servicePath string) (protocol.ModuleID, []protocol.Blob, error) {
	c, err := os.ReadFile(contractPath)
	if err != nil {
		return protocol.ModuleID{}, nil, err
	}
	s, err := os.ReadFile(servicePath)
	if err != nil {
		return protocol.ModuleID{}, nil, err
	}
	id, blobs := protocol.ModuleBlobs(c, s)
	return id, blobs, nil
}

func parseAppIDs(list string) ([]base.ApplicationID, error) {
	var out []base.ApplicationID
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		id, err := base.ParseApplicationID(f)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

// commitOn runs f with a client of a chain of the wallet (chain, or the default) and
// commits what it proposes, waiting out round timeouts.
func commitOn(cmd *cobra.Command, chain string, f func(ctx context.Context, cc *client.ChainClient) (*protocol.Certificate, error)) (*protocol.Certificate, error) {
	return commitOnWith(cmd, chain, nil, f)
}

// commitOnWith is commitOn with the context of the proposal's calls to validators
// given by with (nil: the command's), which may consult the session.
func commitOnWith(cmd *cobra.Command, chain string, with func(context.Context, *session) context.Context, f func(ctx context.Context, cc *client.ChainClient) (*protocol.Certificate, error)) (*protocol.Certificate, error) {
	s, id, err := connectOn(cmd, chain)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	cc, err := s.chainClient(id)
	if err != nil {
		return nil, err
	}
	ctx := cmd.Context()
	if with != nil {
		ctx = with(ctx, s)
	}
	return s.commit(ctx, cc, func() (*protocol.Certificate, error) { return f(ctx, cc) })
}

// runOps commits operations (and blobs) on a chain of the wallet and returns the last
// operation's result.
func runOps(cmd *cobra.Command, chain string, ops []protocol.Operation, blobs []protocol.Blob) (*protocol.Certificate, []byte, error) {
	if len(blobs) > 0 {
		size := 0
		for i := range blobs {
			size += blobs[i].Size()
		}
		done := startProgress(cmd, fmt.Sprintf("publishing %d blob(s), %s (validators check and compile the bytecode)", len(blobs), mib(size)))
		cert, res, err := runOpsNow(cmd, chain, ops, blobs)
		done(err)
		return cert, res, err
	}
	return runOpsNow(cmd, chain, ops, blobs)
}

func runOpsNow(cmd *cobra.Command, chain string, ops []protocol.Operation, blobs []protocol.Blob) (*protocol.Certificate, []byte, error) {
	return runOpsThen(cmd, chain, ops, blobs, nil)
}

// runOpsThen is runOpsNow with the proposal's context given by with (commitOnWith).
func runOpsThen(cmd *cobra.Command, chain string, ops []protocol.Operation, blobs []protocol.Blob, with func(context.Context, *session) context.Context) (*protocol.Certificate, []byte, error) {
	cert, err := commitOnWith(cmd, chain, with, func(ctx context.Context, cc *client.ChainClient) (*protocol.Certificate, error) {
		return cc.ExecuteOperations(ctx, ops, blobs)
	})
	if err != nil {
		return nil, nil, err
	}
	if cert == nil {
		return nil, nil, errors.New("nothing was committed")
	}
	res := cert.Block.Outcome.OperationResults
	return cert, res[len(res)-1], nil
}

func publishModuleCommand() *cobra.Command {
	var chain string
	cmd := &cobra.Command{
		Use:   "publish-module CONTRACT.wasm SERVICE.wasm",
		Short: "Publish a module (contract and service bytecode); prints its MODULE_ID",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			module, blobs, err := readModule(args[0], args[1])
			if err != nil {
				return err
			}
			cert, _, err := runOps(cmd, chain, []protocol.Operation{protocol.SystemOp(&protocol.PublishModule{Module: module})}, blobs)
			if err != nil {
				return err
			}
			res := map[string]any{"moduleId": module.String(), "block": blockResult(cert)}
			return out(cmd, res, func(o io.Writer) { fmt.Fprintln(o, module) })
		},
	}
	cmd.Flags().StringVar(&chain, "chain", "", "chain publishing the module (default: the default chain)")
	return cmd
}

func createFlags(cmd *cobra.Command, params, arg, required, chain *string) {
	cmd.Flags().StringVar(params, "json-parameters", "", "application parameters (JSON)")
	cmd.Flags().StringVar(arg, "json-argument", "", "instantiation argument (JSON)")
	cmd.Flags().StringVar(required, "required-application-ids", "", "comma-separated applications this one calls")
	cmd.Flags().StringVar(chain, "chain", "", "chain creating the application (default: the default chain)")
}

func createOp(module protocol.ModuleID, params, arg, required string) (protocol.Operation, error) {
	req, err := parseAppIDs(required)
	if err != nil {
		return protocol.Operation{}, err
	}
	return protocol.SystemOp(&protocol.CreateApplication{Module: module, Parameters: []byte(params), Argument: []byte(arg), Required: req}), nil
}

// printApp prints the application a block created (the schema's
// CreateApplicationResult under --json).
func printApp(cmd *cobra.Command, cert *protocol.Certificate, result []byte) error {
	if len(result) != base.HashSize {
		return fmt.Errorf("the block returned no application id")
	}
	app := base.ApplicationID(result)
	res := map[string]any{"applicationId": app.String(), "block": blockResult(cert)}
	return out(cmd, res, func(o io.Writer) { fmt.Fprintln(o, app) })
}

func createApplicationCommand() *cobra.Command {
	var params, arg, required, chain string
	cmd := &cobra.Command{
		Use:   "create-application MODULE_ID",
		Short: "Create an application of a published module; prints its APPLICATION_ID",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			module, err := parseModuleID(args[0])
			if err != nil {
				return err
			}
			op, err := createOp(module, params, arg, required)
			if err != nil {
				return err
			}
			cert, res, err := runOps(cmd, chain, []protocol.Operation{op}, nil)
			if err != nil {
				return err
			}
			return printApp(cmd, cert, res)
		},
	}
	createFlags(cmd, &params, &arg, &required, &chain)
	return cmd
}

func publishAndCreateCommand() *cobra.Command {
	var params, arg, required, chain string
	cmd := &cobra.Command{
		Use:   "publish-and-create CONTRACT.wasm SERVICE.wasm",
		Short: "Publish a module and create an application of it in one block; prints its APPLICATION_ID",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			module, blobs, err := readModule(args[0], args[1])
			if err != nil {
				return err
			}
			op, err := createOp(module, params, arg, required)
			if err != nil {
				return err
			}
			cert, res, err := runOps(cmd, chain, []protocol.Operation{protocol.SystemOp(&protocol.PublishModule{Module: module}), op}, blobs)
			if err != nil {
				return err
			}
			return printApp(cmd, cert, res)
		},
	}
	createFlags(cmd, &params, &arg, &required, &chain)
	return cmd
}

func executeOperationCommand() *cobra.Command {
	var app, op, chain string
	cmd := &cobra.Command{
		Use:   "execute-operation --application-id APP --json-operation JSON",
		Short: "Execute an application operation in a block of the chain; prints the operation's response",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := base.ParseApplicationID(app)
			if err != nil {
				return fmt.Errorf("--application-id: %w", err)
			}
			if op == "" {
				return errors.New("--json-operation is required")
			}
			// The client gives validators the time for the application's first run
			// (client.compileWork).
			cert, res, err := runOpsNow(cmd, chain, []protocol.Operation{{App: id, Bytes: []byte(op)}}, nil)
			if err != nil {
				return unknownApplication(id, err)
			}
			return out(cmd, map[string]any{"response": string(res), "block": blockResult(cert)}, func(o io.Writer) { fmt.Fprintln(o, string(res)) })
		},
	}
	cmd.Flags().StringVar(&app, "application-id", "", "the application")
	cmd.Flags().StringVar(&op, "json-operation", "", "the operation (JSON)")
	chainFlag(cmd, &chain, "chain executing it (default: the default chain)", "chain-id")
	return cmd
}

// unknownApplication says that no block created application id when err is the failed
// lookup of its description (a mistyped --application-id), else returns err.
func unknownApplication(id base.ApplicationID, err error) error {
	desc := base.BlobID{Type: base.BlobApplicationDescription, Hash: base.Hash(id)}
	if nf, ok := errors.AsType[*worker.BlobsNotFoundError](err); ok && nf.Has(desc) {
		return fmt.Errorf("%w: no application %s on this network (check --application-id: `mica create-application` and `mica publish-and-create` print it)", base.ErrNotFound, id)
	}
	return err
}

func queryApplicationCommand() *cobra.Command {
	var app, chain string
	cmd := &cobra.Command{
		Use:   "query-application --application-id APP QUERY",
		Short: "Sync the chain and ask the application's service a query on the local replica; operations a mutation schedules are committed in a block",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := base.ParseApplicationID(app)
			if err != nil {
				return fmt.Errorf("--application-id: %w", err)
			}
			s, chainID, err := connectOn(cmd, chain)
			if err != nil {
				return err
			}
			defer s.Close()
			ctx := cmd.Context()
			if _, err := s.syncChain(cmd, chainID); err != nil {
				return err
			}
			answer, ops, err := s.c.QueryApplication(ctx, chainID, id, []byte(args[0]))
			if err != nil {
				return unknownApplication(id, err)
			}
			asJSON, _ := cmd.Flags().GetBool("json")
			if msg := graphQLErrors(answer); msg != "" {
				// The service answered with GraphQL errors: fail, committing none of
				// the operations it may have scheduled. As text, the response is
				// printed first; under --json the error is the whole result.
				if !asJSON {
					if _, err := cmd.OutOrStdout().Write(append(answer, '\n')); err != nil {
						return err
					}
				}
				if len(ops) > 0 {
					msg += fmt.Sprintf(" (%d scheduled operation(s) not committed)", len(ops))
				}
				return fmt.Errorf("%w: %s", base.ErrInvalid, msg)
			}
			var cert *protocol.Certificate
			if len(ops) > 0 {
				// A mutation: commit the operations the service scheduled.
				cc, err := s.chainClient(chainID)
				if err != nil {
					return fmt.Errorf("the query scheduled operations, but: %w", err)
				}
				cert, err = s.commit(ctx, cc, func() (*protocol.Certificate, error) { return cc.ExecuteOperations(ctx, ops, nil) })
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "committed %d scheduled operation(s) in block %d of %s\n", len(ops), cert.Height(), chainID.Short())
			}
			res := queryJSON{ApplicationID: id.String(), ChainID: chainID.String(), Data: responseData(answer), ScheduledOperations: len(ops), Block: blockResult(cert)}
			return out(cmd, res, func(o io.Writer) { fmt.Fprintln(o, string(answer)) })
		},
	}
	cmd.Flags().StringVar(&app, "application-id", "", "the application")
	chainFlag(cmd, &chain, "chain whose replica answers (default: the default chain)", "chain-id")
	return cmd
}

// queryJSON is query-application's result under --json: the data of the service's
// GraphQL response and, for a mutation, the block that committed the operations it
// scheduled (null for a query).
type queryJSON struct {
	ApplicationID string `json:"applicationId"`
	ChainID       string `json:"chainId"`
	// Data is the response's "data" (null when it has none); the answer of a service
	// that does not answer GraphQL (not a JSON object) is given whole, as a string.
	Data                json.RawMessage `json:"data"`
	ScheduledOperations int             `json:"scheduledOperations"`
	Block               *blockJSON      `json:"block"`
}

// responseData returns the "data" of a GraphQL response, JSON null when it has none, or
// the answer as a JSON string when it is not a JSON object.
func responseData(answer []byte) json.RawMessage {
	var resp struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(answer, &resp); err != nil {
		s, _ := json.Marshal(string(answer)) // a string always encodes
		return s
	}
	if len(resp.Data) == 0 {
		return json.RawMessage("null")
	}
	return resp.Data
}

// graphQLErrors returns the messages of a GraphQL response's "errors", joined with
// "; ", or "" when it has none (or is not a GraphQL response).
func graphQLErrors(answer []byte) string {
	var resp struct {
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(answer, &resp) != nil || len(resp.Errors) == 0 {
		return ""
	}
	msgs := make([]string, len(resp.Errors))
	for i, e := range resp.Errors {
		msgs[i] = e.Message
	}
	return "the application answered with errors: " + strings.Join(msgs, "; ")
}
