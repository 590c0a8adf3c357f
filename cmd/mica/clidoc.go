package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// writeCLIReference writes docs/CLI.md: every command of the tree with its usage, flags
// and example, generated from the cobra tree so that it cannot drift from the code
// (TestCLIReference compares; `go test ./cmd/mica -run TestCLIReference -update`
// rewrites it).
func writeCLIReference(w io.Writer, root *cobra.Command) {
	fmt.Fprintf(w, "# `mica` command reference\n\n")
	fmt.Fprintf(w, "Generated from the command tree by `go test ./cmd/mica -run TestCLIReference -update`; do not edit by hand.\n\n")
	fmt.Fprintf(w, "Every command takes the global flags below; each global flag not given on the command line takes its `MICA_*` environment variable (for example `MICA_WALLET`, `MICA_JSON`). With `--json`, results are JSON on stdout and errors are JSON on stderr (`{\"error\": {\"message\": ..., \"kind\": ...}}`, kind one of usage, invalid, not_found, corrupt, unreachable, unavailable, interrupted, error); the exit code is 0 on success, 1 on failure, 2 for bad usage and 130 when interrupted.\n\n")
	fmt.Fprintf(w, "%s\n\n", strings.Join(strings.Fields(jsonSchemaNote), " "))
	fmt.Fprintf(w, "%s\n\n", strings.Join(strings.Fields(walletLockNote), " "))
	fmt.Fprintf(w, "## Global flags\n\n```\n%s```\n\n", root.PersistentFlags().FlagUsagesWrapped(100))
	fmt.Fprintf(w, "## Commands\n\n")
	for _, c := range leafCommands(root) {
		fmt.Fprintf(w, "- [`%s`](#%s)\n", c.CommandPath(), anchor(c.CommandPath()))
	}
	fmt.Fprintln(w)
	for _, c := range leafCommands(root) {
		fmt.Fprintf(w, "### %s\n\n%s\n\n", c.CommandPath(), c.Short)
		if c.Long != "" && c.Long != c.Short {
			fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(c.Long))
		}
		fmt.Fprintf(w, "```\n%s\n```\n\n", c.UseLine())
		if fl := c.NonInheritedFlags(); fl.HasAvailableFlags() {
			fmt.Fprintf(w, "Flags:\n\n```\n%s```\n\n", fl.FlagUsagesWrapped(100))
		}
		if c.Example != "" {
			fmt.Fprintf(w, "Example:\n\n```sh\n%s\n```\n\n", strings.TrimRight(c.Example, "\n"))
		}
	}
}

// jsonSchemaNote is the CLI reference's paragraph on the shapes of --json results.
const jsonSchemaNote = `The --json results that the node service (mica service) also returns use its GraphQL
schema's field names and shapes (internal/nodeservice/schema.graphqls; both are built
by internal/nodeservice/view): show-block prints the schema's Block (operations and
incoming bundles as structured JSON, certificate) plus "fees" and "oracleResponses";
transfer, claim, change-ownership, close-chain give its BlockResult ("chainId",
"height", "hash") plus "round"; execute-operation, publish-module, publish-data-blob,
create-application and publish-and-create nest it as "block" next to "response",
"moduleId", "hash" or "applicationId"; open-chain gives the OpenChainResult
("chainId", "block") plus "parent" and "owner"; process-inbox the list of blocks it
committed, as the processInbox mutation does; watch one Notification per line
("kind": "NEW_BLOCK", ...); wallet show the Wallet's "defaultChain", "chains"
("chainId", "owner", "isDefault", "nextHeight") and "owners". Balances, sync,
follow-chain and the stream commands use the same camelCase names ("chainId",
"balance", "nextHeight"). The commands of operators (validator, net, committee,
benchmark, project, demo) keep their own snake_case names.`

// walletLockNote is the CLI reference's paragraph on sharing a wallet.
const walletLockNote = `One command at a time has a wallet open: a command waits up to 30 s for another
that holds it (saying so on stderr), and refuses at once while mica service or mica mcp
holds it (use the service's GraphQL endpoint meanwhile). watch and process-streams open
the wallet only for the moments they sync or commit, so other commands run on the same
wallet while they watch.`

// leafCommands returns the commands that do something (those without subcommands), in
// tree order, leaving out cobra's own help and completion.
func leafCommands(root *cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		if len(c.Commands()) == 0 {
			if c != root {
				out = append(out, c)
			}
			return
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
	return out
}

// anchor is GitHub's heading anchor for a command path.
func anchor(path string) string { return strings.ReplaceAll(strings.ToLower(path), " ", "-") }
