package main

// What every command shares: environment defaults for the global flags, the version,
// refusing unknown subcommands, and how errors reach the user (text or JSON).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/netup"
)

// envName is the environment variable of a global flag: --faucet-url is MICA_FAUCET_URL.
func envName(flag string) string {
	return "MICA_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every global flag not given on the command line from its MICA_*
// variable. (--wallet and --network are also read from the environment where they are
// used, so library code sees the same defaults.)
func applyEnv(cmd *cobra.Command) error {
	for _, name := range globalFlags {
		f := cmd.Flags().Lookup(name)
		if f == nil || f.Changed {
			continue
		}
		v, ok := os.LookupEnv(envName(name))
		if !ok || v == "" {
			continue
		}
		if err := cmd.Flags().Set(name, v); err != nil {
			return fmt.Errorf("$%s=%q: %v", envName(name), v, err)
		}
	}
	return nil
}

// globalFlags are the root's persistent flags (TestGlobalFlagsHaveEnv checks the list).
var globalFlags = []string{"json", "wallet", "network", "verbose", "log-level", "log-format"}

// version is the module version and, when the binary was built from a checkout, the
// VCS revision (with "+dirty" for uncommitted changes) and its time.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown version)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "+dirty"
		}
		v += " " + rev
		if at != "" {
			v += " " + at
		}
	}
	return v + " " + bi.GoVersion
}

// refuseUnknownSubcommands makes every group (a command with subcommands) fail on an
// argument that is not one of its subcommands, instead of printing its help and
// exiting 0; with no argument a group still prints its help.
func refuseUnknownSubcommands(c *cobra.Command) {
	for _, sub := range c.Commands() {
		refuseUnknownSubcommands(sub)
	}
	if !c.HasSubCommands() || c.Run != nil || c.RunE != nil || !c.HasParent() {
		return
	}
	c.Args = cobra.ArbitraryArgs
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		return unknownCommand(cmd, args[0])
	}
}

// explainArgErrors makes every command's wrong number of arguments name the command,
// its usage line and its help, rather than only cobra's "accepts 1 arg(s), received 0".
func explainArgErrors(c *cobra.Command) {
	for _, sub := range c.Commands() {
		explainArgErrors(sub)
	}
	check := c.Args
	if check == nil {
		return
	}
	c.Args = func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &usageError{msg: fmt.Sprintf("%s: %v (usage: %s; see `%s --help`)", cmd.CommandPath(), err, cmd.UseLine(), cmd.CommandPath())}
		}
		return nil
	}
}

// explainPortTaken explains a listener's "address already in use" (err) as a port another
// process holds, naming the flag that chooses another; other errors it returns as they are.
func explainPortTaken(err error, flag string) error {
	var op *net.OpError
	if errors.Is(err, syscall.EADDRINUSE) && errors.As(err, &op) && op.Addr != nil {
		return fmt.Errorf("%s is already taken by another process (another mica service or faucet?): stop it, or choose another %s (%w)", op.Addr, flag, err)
	}
	return err
}

// usageError is a mistake on the command line: an unknown command or flag.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func unknownCommand(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, cmd.CommandPath())
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	}
	var names []string
	for _, sub := range cmd.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return &usageError{msg: msg + fmt.Sprintf(" (its commands: %s; see `%s --help`)", strings.Join(names, ", "), cmd.CommandPath())}
}

var negativeNumber = regexp.MustCompile(`in -[0-9.]+$`)

// flagError names the command whose flags were wrong and explains negative numbers,
// which the flag parser reads as flags.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	if strings.HasPrefix(msg, "unknown shorthand flag") && negativeNumber.MatchString(msg) {
		return &usageError{msg: fmt.Sprintf("%s: amounts and numbers cannot be negative (%s)", cmd.CommandPath(), msg)}
	}
	return &usageError{msg: fmt.Sprintf("%s: %s (see `%s --help`)", cmd.CommandPath(), msg, cmd.CommandPath())}
}

// jsonRequested reports whether errors should be printed as JSON: --json on the command
// line (also when parsing failed before the flag was read) or $MICA_JSON.
func jsonRequested(cmd *cobra.Command, args []string) bool {
	if cmd != nil {
		if f := cmd.Flags().Lookup("json"); f != nil && f.Changed {
			return f.Value.String() == "true"
		}
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "--json" || a == "--json=true" {
			return true
		}
		if a == "--json=false" {
			return false
		}
	}
	v := os.Getenv("MICA_JSON")
	return v == "1" || v == "true"
}

// classPrefixes are the base error classes' names that internal errors carry as a
// prefix ("retryable: ..."); they mean nothing to a user.
var classPrefixes = []string{base.ErrRetryable.Error() + ": ", base.ErrInvalid.Error() + ": ", base.ErrNotFound.Error() + ": ", base.ErrCorrupt.Error() + ": "}

var (
	dialAddr    = regexp.MustCompile(`dial tcp ([^ ]+?:[0-9]+)`)
	faucetURLIn = regexp.MustCompile(`"(https?://[^/" ]+)/`)
)

// describeError turns an error into the sentence shown to the user and a kind a script
// can branch on: usage, invalid, not_found, corrupt, unreachable, unavailable,
// interrupted or error.
func describeError(cmd *cobra.Command, err error) (msg, kind string) {
	if u := unreachableError(cmd); u != nil && !errors.Is(err, context.Canceled) {
		// No validator answered anything: that is the cause, whatever the client
		// concluded from the silence (such as "no validator knows" a chain).
		m := "cannot reach the validators: is the network running? (mica net status)"
		if a := dialAddr.FindStringSubmatch(u.Error()); a != nil {
			m = fmt.Sprintf("cannot reach validator %s: is the network running? (mica net status)", validatorName(cmd, a[1]))
		}
		return m, "unreachable"
	}
	msg = err.Error()
	for _, p := range classPrefixes {
		// Only where a class starts the message or one of its ": " parts, so that
		// "blobs not found: blob X" keeps its words.
		msg = strings.TrimPrefix(msg, p)
		msg = strings.ReplaceAll(msg, ": "+p, ": ")
	}
	var ue *usageError
	switch {
	case errors.As(err, &ue) || isCobraUsage(msg):
		kind = "usage"
	case errors.Is(err, context.Canceled):
		return "interrupted", "interrupted"
	case strings.Contains(msg, "connection refused") || strings.Contains(msg, "Error while dialing"):
		kind = "unreachable"
		addr := ""
		if m := dialAddr.FindStringSubmatch(msg); m != nil {
			addr = m[1]
		}
		switch u := faucetURLIn.FindStringSubmatch(msg); {
		case u != nil:
			msg = fmt.Sprintf("cannot reach the faucet at %s: is the network running, with --with-faucet? (mica net status)", u[1])
		case addr != "":
			msg = fmt.Sprintf("cannot reach validator %s: is the network running? (mica net status)", validatorName(cmd, addr))
			if errors.Is(err, client.ErrNoQuorum) {
				msg = "no quorum of validators answered: " + msg
			}
		}
	case base.IsInvalid(err):
		kind = "invalid"
	case base.IsNotFound(err):
		kind = "not_found"
	case errors.Is(err, base.ErrCorrupt):
		kind = "corrupt"
	case errors.Is(err, base.ErrRetryable):
		kind = "unavailable"
	default:
		kind = "error"
	}
	return msg, kind
}

// isCobraUsage recognizes cobra's own argument errors.
func isCobraUsage(msg string) bool {
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "unknown flag", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// validatorName names the validator at addr as "NAME at ADDR" when a network
// description lists it, else by its address.
func validatorName(cmd *cobra.Command, addr string) string {
	if addr == "" {
		return "(address unknown)"
	}
	if cmd != nil {
		if path := networkFilePath(cmd); path != "" {
			if nf, err := netup.ReadNetworkFile(path); err == nil {
				for _, v := range nf.Validators {
					if v.Address == addr {
						return v.Name + " at " + addr
					}
				}
			}
		}
	}
	return "at " + addr
}

// reportError prints err on stderr: a "mica: " line, or with --json the object
// {"error": {"message": ..., "kind": ...}}.
func reportError(cmd *cobra.Command, args []string, err error) {
	msg, kind := describeError(cmd, err)
	writeError(os.Stderr, jsonRequested(cmd, args), msg, kind)
}

func writeError(w io.Writer, asJSON bool, msg, kind string) {
	if !asJSON {
		fmt.Fprintf(w, "mica: %s\n", msg)
		return
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(map[string]any{"error": map[string]string{"message": msg, "kind": kind}})
}

// chainFlag defines the command's --chain flag: every flag that names a chain is called
// --chain. The older names given as aliases (--chain-id, --from) are still accepted.
func chainFlag(cmd *cobra.Command, v *string, usage string, aliases ...string) {
	cmd.Flags().StringVar(v, "chain", "", usage)
	cmd.Flags().SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if slices.Contains(aliases, name) {
			name = "chain"
		}
		return pflag.NormalizedName(name)
	})
}
