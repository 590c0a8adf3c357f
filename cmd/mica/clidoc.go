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
