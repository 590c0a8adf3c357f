package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/wallet"
)

// `mica wallet agent-policy`: what AI agents connected through MCP (`mica mcp`, or
// `mica service`'s /mcp) may do with the wallet. The policy file has one writer (this
// command) and is re-read by the node on every agent request, so it needs no wallet
// lock: a user can raise a limit while the node runs.

func agentPolicyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent-policy",
		Short: "Show or change what AI agents (MCP) may spend from the wallet",
		Long: `The agent spending policy bounds what an AI agent connected through MCP (mica mcp, or
mica service's /mcp) may do with the wallet's chains. The node enforces it on every agent
request and re-reads it each time, so changes apply at once, also while mica service runs.

Without a policy, agents are read-only: they may query, and nothing else.
A policy opens what it says:
  --per-transfer AMOUNT   most tokens one transfer (or the balance of a new chain) may move
  --per-day AMOUNT        most tokens all of them may move in one UTC day (the day's
                          spending is kept in agent-spending.json, across restarts)
  --allow-recipient ACCT  accounts (OWNER@CHAIN) or chains (CHAIN: any account on it) that
                          transfers may go to; repeat it; none given: any recipient
  --allow-application APP applications whose mutations agents may call; repeat it; none
                          given: no application mutation ("*" allows every application)
  --read-only             refuse every mutation, whatever the rest says
While an amount limit or a recipient list is set, agents can move tokens only through the
transfer and open_chain tools: other system mutations through the raw graphql tool are
refused.`,
	}
	cmd.AddCommand(agentPolicyShowCommand(), agentPolicySetCommand(), agentPolicyClearCommand())
	return cmd
}

// agentPolicyDir is the wallet directory, which must hold a wallet.
func agentPolicyDir(cmd *cobra.Command) (string, error) {
	dir, err := walletDir(cmd)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, "wallet.json")); err != nil {
		return "", fmt.Errorf("no wallet at %s: run `mica wallet init --faucet URL` (or set --wallet / MICA_WALLET)", dir)
	}
	return dir, nil
}

type agentPolicyJSON struct {
	Wallet            string   `json:"wallet"`
	Policy            bool     `json:"policy"`
	PerTransfer       *string  `json:"per_transfer"`
	PerDay            *string  `json:"per_day"`
	AllowRecipients   []string `json:"allow_recipients"`
	AllowApplications []string `json:"allow_applications"`
	ReadOnly          bool     `json:"read_only"`
	SpentToday        string   `json:"spent_today"`
	Day               string   `json:"day"`
}

func showAgentPolicy(cmd *cobra.Command, dir string) error {
	p, found, err := wallet.ReadAgentPolicy(dir)
	if err != nil {
		return err
	}
	now := time.Now()
	var spent base.Amount
	if l, err := wallet.OpenAgentLedger(dir); err != nil {
		return err
	} else {
		spent = l.Spent(now)
	}
	j := agentPolicyJSON{Wallet: dir, Policy: found, ReadOnly: p.ReadOnly, SpentToday: spent.String(), Day: now.UTC().Format(time.DateOnly),
		AllowRecipients: nonNil(p.AllowRecipients), AllowApplications: nonNil(p.AllowApplications)}
	if p.PerTransfer != nil {
		s := p.PerTransfer.String()
		j.PerTransfer = &s
	}
	if p.PerDay != nil {
		s := p.PerDay.String()
		j.PerDay = &s
	}
	return out(cmd, j, func(o io.Writer) {
		if !found {
			fmt.Fprintf(o, "no agent policy in %s: agents are read-only (set one with `mica wallet agent-policy set`)\n", dir)
		} else if p.ReadOnly {
			fmt.Fprintln(o, "read-only: agents may only query")
		}
		if found {
			fmt.Fprintf(o, "per transfer:         %s\n", limitText(p.PerTransfer))
			fmt.Fprintf(o, "per day (UTC):        %s\n", limitText(p.PerDay))
			fmt.Fprintf(o, "allowed recipients:   %s\n", listText(p.AllowRecipients, "any"))
			fmt.Fprintf(o, "allowed applications: %s\n", listText(p.AllowApplications, "none"))
		}
		fmt.Fprintf(o, "spent today (%s UTC): %s\n", j.Day, spent)
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func limitText(a *base.Amount) string {
	if a == nil {
		return "no limit"
	}
	return a.String()
}

func listText(l []string, empty string) string {
	if len(l) == 0 {
		return empty
	}
	return strings.Join(l, ", ")
}

func agentPolicyShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show",
		Short: "Show the agent policy and what agents spent today",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := agentPolicyDir(cmd)
			if err != nil {
				return err
			}
			return showAgentPolicy(cmd, dir)
		},
	}
}

// parseLimit reads --per-transfer/--per-day: an amount, or "none" for no limit.
func parseLimit(flag, v string) (*base.Amount, error) {
	if v == "none" {
		return nil, nil
	}
	a, err := base.ParseAmount(v)
	if err != nil {
		return nil, fmt.Errorf("--%s %q: want an amount of tokens (e.g. 10 or 0.5) or none: %v", flag, v, err)
	}
	return &a, nil
}

func agentPolicySetCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "set",
		Short: "Create or change the agent policy (flags not given keep their value)",
		Long: `Create or change the agent policy. Flags not given keep their current value (a new policy
starts with no limits, any recipient and no application). --per-transfer none and
--per-day none remove a limit; --allow-recipient any allows every recipient again;
--allow-application none allows no application again; --read-only=false lifts read-only.`,
		Example: `  mica wallet agent-policy set --per-transfer 10 --per-day 50 --allow-recipient CHAIN
  mica wallet agent-policy set --allow-application APP --allow-application APP2
  mica wallet agent-policy set --read-only`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := agentPolicyDir(cmd)
			if err != nil {
				return err
			}
			p, found, err := wallet.ReadAgentPolicy(dir)
			if err != nil {
				return err
			}
			if !found {
				p = &wallet.AgentPolicy{}
			}
			f := cmd.Flags()
			changed := false
			for _, name := range []string{"per-transfer", "per-day"} {
				if !f.Changed(name) {
					continue
				}
				v, _ := f.GetString(name)
				a, err := parseLimit(name, v)
				if err != nil {
					return err
				}
				if name == "per-transfer" {
					p.PerTransfer = a
				} else {
					p.PerDay = a
				}
				changed = true
			}
			if f.Changed("allow-recipient") {
				l, _ := f.GetStringArray("allow-recipient")
				if len(l) == 1 && l[0] == "any" {
					l = nil
				}
				p.AllowRecipients = l
				changed = true
			}
			if f.Changed("allow-application") {
				l, _ := f.GetStringArray("allow-application")
				if len(l) == 1 && l[0] == "none" {
					l = nil
				}
				p.AllowApplications = l
				changed = true
			}
			if f.Changed("read-only") {
				p.ReadOnly, _ = f.GetBool("read-only")
				changed = true
			}
			if !changed {
				return errors.New("nothing to change: give --per-transfer, --per-day, --allow-recipient, --allow-application or --read-only (see --help)")
			}
			if err := wallet.WriteAgentPolicy(dir, p); err != nil {
				return err
			}
			return showAgentPolicy(cmd, dir)
		},
	}
	cmd.Flags().String("per-transfer", "", "most tokens one transfer may move (none: no limit)")
	cmd.Flags().String("per-day", "", "most tokens agents may move in one UTC day (none: no limit)")
	cmd.Flags().StringArray("allow-recipient", nil, "an account OWNER@CHAIN or a chain CHAIN transfers may go to; repeat; any: every recipient")
	cmd.Flags().StringArray("allow-application", nil, "an application whose mutations agents may call; repeat; * for all; none: no application")
	cmd.Flags().Bool("read-only", false, "refuse every mutation (--read-only=false lifts it)")
	return cmd
}

func agentPolicyClearCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "clear",
		Short: "Remove the agent policy: agents are read-only again",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := agentPolicyDir(cmd)
			if err != nil {
				return err
			}
			if err := wallet.ClearAgentPolicy(dir); err != nil {
				return err
			}
			return showAgentPolicy(cmd, dir)
		},
	}
}
