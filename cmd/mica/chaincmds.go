package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/chain"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/execution"
	"github.com/micachain/mica/internal/nodeservice/gql"
	"github.com/micachain/mica/internal/nodeservice/view"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc"
)

func chainCommands() []*cobra.Command {
	return []*cobra.Command{transferCommand(), claimCommand(), queryBalanceCommand(true), queryBalanceCommand(false), syncCommand(), processInboxCommand(),
		openChainCommand(), openMultiOwnerChainCommand(), changeOwnershipCommand(), closeChainCommand(), showBlockCommand(), watchCommand()}
}

// accountArg parses CHAIN or OWNER@CHAIN; an empty string is the default chain's
// chain account.
func (s *session) accountArg(a string) (base.Account, error) {
	if a == "" {
		id, err := s.chainArg(nil, 0)
		return base.Account{Chain: id}, err
	}
	return base.ParseAccount(a)
}

func printCert(o io.Writer, what string, cert *protocol.Certificate) {
	if cert == nil {
		fmt.Fprintf(o, "%s: nothing to do\n", what)
		return
	}
	fmt.Fprintf(o, "%s: block %d of chain %s confirmed in the %v round (hash %s)\n", what, cert.Height(), cert.ChainID().Short(), cert.Round, cert.Hash().Short())
}

func transferCommand() *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "transfer AMOUNT --from ACCOUNT --to ACCOUNT",
		Short: "Transfer tokens; an account is CHAIN (the chain's own account) or OWNER@CHAIN",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			amount, err := base.ParseAmount(args[0])
			if err != nil {
				return err
			}
			if amount.IsZero() {
				return errors.New("the amount must be positive")
			}
			if to == "" {
				return errors.New("--to ACCOUNT is required")
			}
			s, err := connect(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			src, err := s.accountArg(from)
			if err != nil {
				return fmt.Errorf("--from: %w", err)
			}
			dst, err := s.w.ParseRecipient(to)
			if err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			cc, err := s.chainClient(src.Chain)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			cert, err := s.commit(ctx, cc, func() (*protocol.Certificate, error) { return cc.Transfer(ctx, src.Owner, dst, amount) })
			if err != nil {
				return err
			}
			return out(cmd, blockResult(cert), func(o io.Writer) { printCert(o, "transfer of "+amount.String(), cert) })
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "source account (default: the default chain's account)")
	cmd.Flags().StringVar(&to, "to", "", "destination account")
	return cmd
}

func claimCommand() *cobra.Command {
	var from, to, chainFlag string
	cmd := &cobra.Command{
		Use:   "claim AMOUNT --from OWNER@CHAIN [--to ACCOUNT] [--chain CHAIN]",
		Short: "Withdraw tokens from your account on another chain (OWNER@CHAIN, OWNER a key of this wallet) to ACCOUNT (default: the signing chain's account)",
		Long: `Withdraw tokens from your account OWNER@CHAIN on another chain.

The claim is a block on a chain of this wallet whose key is OWNER (--chain, default: the
default chain if its key is OWNER, else the first such chain). The source chain executes
the withdrawal when its owner next processes its inbox, then the recipient's chain
receives the tokens with its next process-inbox.`,
		Example: "  mica claim 5 --from $OWNER@$OTHER_CHAIN\n  mica claim 5 --from $OWNER@$OTHER_CHAIN --to $CHAIN --chain $MY_CHAIN",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			amount, err := base.ParseAmount(args[0])
			if err != nil {
				return err
			}
			if amount.IsZero() {
				return errors.New("the amount must be positive")
			}
			src, err := base.ParseAccount(from)
			if err != nil || src.Owner == base.ChainOwner {
				return fmt.Errorf("--from OWNER@CHAIN is required: the account to withdraw from (%q)", from)
			}
			s, err := connect(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			var dst base.Account
			if to != "" {
				if dst, err = s.w.ParseRecipient(to); err != nil {
					return fmt.Errorf("--to: %w", err)
				}
			}
			signer, err := s.chainOwnedBy(chainFlag, src.Owner)
			if err != nil {
				return err
			}
			if to == "" {
				dst = base.Account{Chain: signer}
			}
			cc, err := s.chainClient(signer)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			cert, err := s.commit(ctx, cc, func() (*protocol.Certificate, error) { return cc.Claim(ctx, src.Owner, src.Chain, dst, amount) })
			if err != nil {
				return err
			}
			return out(cmd, blockResult(cert), func(o io.Writer) {
				printCert(o, "claim of "+amount.String()+" from "+src.String(), cert)
				fmt.Fprintf(o, "the tokens arrive once chain %s processes its inbox (the withdrawal), then chain %s (the credit)\n", src.Chain.Short(), dst.Chain.Short())
			})
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the account to withdraw from: OWNER@CHAIN, OWNER a key of this wallet")
	cmd.Flags().StringVar(&to, "to", "", "destination account (default: the signing chain's account)")
	cmd.Flags().StringVar(&chainFlag, "chain", "", "the wallet chain that signs the claim (its key must be OWNER)")
	return cmd
}

// chainOwnedBy returns the chain named by flag, or else a wallet chain whose key is owner
// (the default chain first).
func (s *session) chainOwnedBy(flag string, owner base.Owner) (base.ChainID, error) {
	if flag != "" {
		return base.ParseChainID(flag)
	}
	if id, ok := s.w.Default(); ok {
		if ch, _ := s.w.Chain(id); ch.Owner != nil && *ch.Owner == owner {
			return id, nil
		}
	}
	for _, ch := range s.w.Chains() {
		if ch.Owner != nil && *ch.Owner == owner {
			return ch.ID, nil
		}
	}
	return base.ChainID{}, fmt.Errorf("no chain of this wallet is signed by %s: a claim must be signed by the account's owner (import its chain or key first)", owner)
}

func queryBalanceCommand(remote bool) *cobra.Command {
	use, short := "query-balance [ACCOUNT]", "Sync the chain from the validators and print an account's balance"
	if !remote {
		use, short = "local-balance [ACCOUNT]", "Print an account's balance from the local replica, without contacting validators"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := connect(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			a := ""
			if len(args) == 1 {
				a = args[0]
			}
			acc, err := s.accountArg(a)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			synced := false
			if remote {
				if _, synced, err = s.syncedOrNote(cmd, acc.Chain); err != nil {
					return err
				}
			}
			bal, err := s.c.LocalBalance(ctx, acc)
			if err != nil {
				return err
			}
			return out(cmd, accountBalance(acc, bal, synced), func(o io.Writer) { fmt.Fprintln(o, bal) })
		},
	}
}

func syncCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "sync [CHAIN]",
		Short: "Download, verify and execute a chain's new blocks locally",
		Long: `Download, verify and execute a chain's new blocks locally. A chain the wallet does
not follow is synced in the local replica only (mica wallet follow-chain adds it).

When validators report blocks the local replica could not get (a block that does not
verify, a blob no validator sends), sync says which validators and why on stderr, as a
warning, and in "behind" under --json; it still succeeds with the height it reached.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return syncedChain(cmd, strings.Join(args, ""), withProgress, func(s *session, id base.ChainID, r syncReport) (any, func(io.Writer), error) {
				// A chain the wallet does not follow is synced in the local replica only
				// (as query-balance does); the wallet records heights of its own.
				if _, ok := s.w.Chain(id); ok {
					if err := s.w.SetNextHeight(id, r.next); err != nil {
						return nil, nil, err
					}
				}
				return s.syncResult(id, r), func(o io.Writer) {
					fmt.Fprintf(o, "chain %s synced: next height %d\n", id, r.next)
				}, nil
			})
		},
	}
}

// syncResult is the result of syncing a chain of the wallet.
func (s *session) syncResult(id base.ChainID, r syncReport) syncJSON {
	v := syncJSON{ChainID: id.String(), NextHeight: int64(r.next), LocalReplicaOnly: !r.synced}
	if ch, ok := s.w.Chain(id); ok && ch.Owner != nil {
		o := ch.Owner.String()
		v.Owner = &o
	}
	if r.behind != "" {
		v.Behind = &r.behind
	}
	return v
}

func processInboxCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "process-inbox [CHAIN]",
		Short: "Receive every pending incoming message bundle and process the new events of the streams the chain subscribes to, in new blocks (first moving the chain to the newest epoch)",
		Long: `A bundle is received only once validators with f+1 of the voting weight report it (f: the
faulty weight the committee tolerates; 2 of 4 equal validators). When fewer do (validators
lagging), the client brings them up to date and asks again; if bundles still wait, the
command says "nothing received: N bundle(s) reported waiting by only K of M validators ...;
try again later" instead of "nothing to do" (under --json, stdout keeps the list of blocks
and a {"warning", "waitingBundles", "reporters", "validators"} object goes to stderr). It
still succeeds: a faulty validator can report bundles that were never sent.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, id, err := connectOn(cmd, strings.Join(args, ""))
			if err != nil {
				return err
			}
			defer s.Close()
			return s.processInbox(cmd, id, inboxRun{what: "process inbox", migrate: true})
		},
	}
}

// inboxRun says how processInbox runs: what to call it in its output, whether to move
// the chain to the newest epoch first, and whether to print nothing when there was
// nothing to do (process-streams, on each announcement).
type inboxRun struct {
	what           string
	migrate, quiet bool
}

// processInbox receives chain id's inbox and subscribed streams in new blocks and prints
// them: under --json the list of blocks committed (the node service's processInbox),
// else the last one.
func (s *session) processInbox(cmd *cobra.Command, id base.ChainID, run inboxRun) error {
	ctx := cmd.Context()
	cc, err := s.chainClient(id)
	if err != nil {
		return err
	}
	before, err := s.c.SyncChain(ctx, id)
	if err != nil {
		return err
	}
	if run.migrate {
		if err := migrateFirst(cmd, s, cc); err != nil {
			return err
		}
	}
	// waiting: bundles validators reported that too few of them agree on to receive
	// (after the client asked again); the last attempt's word counts.
	var waiting *client.WaitingBundles
	cert, err := s.commit(ctx, cc, func() (*protocol.Certificate, error) {
		res, err := cc.ProcessInboxResult(ctx)
		waiting = res.Waiting
		return res.Last, err
	})
	if errors.Is(err, client.ErrStreams) && cert != nil {
		// The inbox was received; only the streams failed.
		printCert(cmd.ErrOrStderr(), run.what, cert)
	}
	if err != nil || (cert == nil && run.quiet) {
		return err
	}
	if cert == nil && waiting == nil {
		if u := s.unreachableErr(); u != nil {
			// "Nothing to do" would claim that nothing waits: no validator said so.
			return fmt.Errorf("no validator answered, so the inbox is unknown: %w", u)
		}
	}
	after, err := s.c.LocalTip(ctx, id)
	if err != nil {
		return err
	}
	blocks, err := s.inboxBlocks(cmd, id, before, after.NextHeight)
	if err != nil {
		return err
	}
	if asJSON, _ := cmd.Flags().GetBool("json"); asJSON && waiting != nil {
		// stdout keeps the processInbox mutation's shape (the list of blocks); the
		// warning goes to stderr, as one JSON object.
		if err := json.NewEncoder(cmd.ErrOrStderr()).Encode(waitingJSON(waiting)); err != nil {
			return err
		}
	}
	return out(cmd, blocks, func(o io.Writer) { printInbox(o, run.what, cert, waiting) })
}

// printInbox prints a process-inbox run's outcome: the last block committed (or nothing
// to do), and the bundles that too few validators report to receive them, if any.
func printInbox(o io.Writer, what string, cert *protocol.Certificate, waiting *client.WaitingBundles) {
	if cert == nil && waiting != nil {
		fmt.Fprintf(o, "%s: nothing received: %s\n", what, waiting)
		return
	}
	printCert(o, what, cert)
	if cert != nil {
		fmt.Fprintf(o, "  %s\n", inboxSummary(cert))
	}
	if waiting != nil {
		fmt.Fprintf(o, "  not received: %s\n", waiting)
	}
}

// inboxWarningJSON is the --json warning of process-inbox about bundles too few
// validators report to receive them (client.WaitingBundles), printed on stderr.
type inboxWarningJSON struct {
	Warning        string `json:"warning"`
	WaitingBundles int    `json:"waitingBundles"`
	Reporters      int    `json:"reporters"`
	Validators     int    `json:"validators"`
}

func waitingJSON(w *client.WaitingBundles) inboxWarningJSON {
	return inboxWarningJSON{Warning: w.String(), WaitingBundles: w.Bundles, Reporters: w.Reporters, Validators: w.Validators}
}

// openWith opens a child chain of the --from chain with an ownership and registers it in
// the wallet (with our key when we own it).
func openWith(cmd *cobra.Command, from, balance string, ownership func(s *session) (protocol.ChainOwnership, *base.Owner, error)) error {
	s, parent, err := connectOn(cmd, from)
	if err != nil {
		return err
	}
	defer s.Close()
	amount := base.ZeroAmount
	if balance != "" {
		if amount, err = base.ParseAmount(balance); err != nil {
			return fmt.Errorf("--initial-balance: %w", err)
		}
	}
	own, mine, err := ownership(s)
	if err != nil {
		return err
	}
	if err := own.Validate(); err != nil {
		return err
	}
	cc, err := s.chainClient(parent)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	var child base.ChainID
	cert, err := s.commit(ctx, cc, func() (*protocol.Certificate, error) {
		id, cert, err := cc.OpenChain(ctx, own, amount)
		child = id
		return cert, err
	})
	if err != nil {
		return err
	}
	if err := s.w.AddChain(child, mine); err != nil {
		return err
	}
	if err := s.w.Save(); err != nil {
		return err
	}
	res := openChainJSON{OpenChainResult: gql.OpenChainResult{ChainID: child.String(), Block: view.BlockResult(cert)}, Parent: parent.String()}
	if mine != nil {
		o := mine.String()
		res.Owner = &o
	}
	return out(cmd, res, func(o io.Writer) {
		if mine != nil {
			fmt.Fprintf(o, "%s %s\n", child, mine)
		} else {
			fmt.Fprintln(o, child)
		}
	})
}

// openChainJSON is the result of opening a chain: the schema's OpenChainResult, the
// parent chain, and the wallet's owner of the new chain (null if it holds no key of it).
type openChainJSON struct {
	gql.OpenChainResult
	Parent string  `json:"parent"`
	Owner  *string `json:"owner"`
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// ownerOrNewKey parses an owner, or generates a key in the wallet.
func ownerOrNewKey(s *session, owner string) (base.Owner, bool, error) {
	if owner != "" {
		o, err := base.ParseOwner(owner)
		if err != nil {
			return base.Owner{}, false, err
		}
		_, kerr := s.w.Key(o)
		return o, kerr == nil, nil
	}
	k, err := s.w.GenerateKey(crypto.Ed25519)
	if err != nil {
		return base.Owner{}, false, err
	}
	return k.Public().Owner(), true, nil
}

func openChainCommand() *cobra.Command {
	var from, owner, balance string
	cmd := &cobra.Command{
		Use:   "open-chain",
		Short: "Open a child chain owned by one owner (a new key of this wallet by default); prints CHAIN_ID OWNER",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return openWith(cmd, from, balance, func(s *session) (protocol.ChainOwnership, *base.Owner, error) {
				o, mine, err := ownerOrNewKey(s, owner)
				if err != nil {
					return protocol.ChainOwnership{}, nil, err
				}
				var mineP *base.Owner
				if mine {
					mineP = &o
				}
				// A single-owner chain makes its owner a super owner: fast-round blocks.
				return protocol.SingleSuperOwner(o), mineP, nil
			})
		},
	}
	chainFlag(cmd, &from, "parent chain paying the initial balance (default: the default chain)", "from")
	cmd.Flags().StringVar(&owner, "owner", "", "owner of the new chain (default: a new key in this wallet)")
	cmd.Flags().StringVar(&balance, "initial-balance", "0", "tokens moved from the parent to the new chain")
	return cmd
}

func parseOwners(list string) ([]base.Owner, error) {
	var out []base.Owner
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		o, err := base.ParseOwner(f)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

func openMultiOwnerChainCommand() *cobra.Command {
	var from, owners, balance string
	var rounds uint32
	cmd := &cobra.Command{
		Use:   "open-multi-owner-chain --owners OWNER,OWNER,...",
		Short: "Open a child chain shared by several owners (multi-leader then single-leader rounds)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return openWith(cmd, from, balance, func(s *session) (protocol.ChainOwnership, *base.Owner, error) {
				os, err := parseOwners(owners)
				if err != nil {
					return protocol.ChainOwnership{}, nil, err
				}
				if len(os) == 0 {
					return protocol.ChainOwnership{}, nil, errors.New("--owners needs at least one owner")
				}
				var mine *base.Owner
				for _, o := range os {
					if _, err := s.w.Key(o); err == nil {
						o := o
						mine = &o
						break
					}
				}
				return protocol.MultiOwner(os, rounds), mine, nil
			})
		},
	}
	chainFlag(cmd, &from, "parent chain (default: the default chain)", "from")
	cmd.Flags().StringVar(&owners, "owners", "", "comma-separated owner addresses")
	cmd.Flags().StringVar(&balance, "initial-balance", "0", "tokens moved from the parent to the new chain")
	cmd.Flags().Uint32Var(&rounds, "multi-leader-rounds", 2, "number of rounds in which any owner may propose")
	return cmd
}

func changeOwnershipCommand() *cobra.Command {
	var chain, supers, owners string
	var rounds uint32
	cmd := &cobra.Command{
		Use:   "change-ownership [--chain CHAIN] [--super-owners ...] [--owners ...]",
		Short: "Replace a chain's owners",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			so, err := parseOwners(supers)
			if err != nil {
				return err
			}
			ro, err := parseOwners(owners)
			if err != nil {
				return err
			}
			if len(so)+len(ro) == 0 {
				return errors.New("give --super-owners and/or --owners (a chain without owners can never make blocks again; use close-chain)")
			}
			own := protocol.MultiOwner(ro, rounds)
			if len(ro) == 0 {
				own = protocol.ChainOwnership{MultiLeaderRounds: rounds, Timeouts: protocol.DefaultTimeoutConfig()}
			}
			sorted := protocol.MultiOwner(so, 0)
			for _, w := range sorted.Owners {
				own.SuperOwners = append(own.SuperOwners, w.Owner)
			}
			cert, _, err := runOps(cmd, chain, []protocol.Operation{protocol.SystemOp(&protocol.ChangeOwnership{Ownership: own})}, nil)
			if err != nil {
				return err
			}
			return out(cmd, blockResult(cert), func(o io.Writer) { printCert(o, "change ownership", cert) })
		},
	}
	cmd.Flags().StringVar(&chain, "chain", "", "chain (default: the default chain)")
	cmd.Flags().StringVar(&supers, "super-owners", "", "comma-separated super owners (fast-round proposers)")
	cmd.Flags().StringVar(&owners, "owners", "", "comma-separated regular owners")
	cmd.Flags().Uint32Var(&rounds, "multi-leader-rounds", 2, "number of multi-leader rounds")
	return cmd
}

func closeChainCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "close-chain CHAIN",
		Short: "Close a chain: afterwards its blocks may only reject incoming messages",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := base.ParseChainID(args[0]); err != nil {
				return err
			}
			cert, _, err := runOps(cmd, args[0], []protocol.Operation{protocol.SystemOp(&protocol.CloseChain{})}, nil)
			if err != nil {
				return err
			}
			return out(cmd, blockResult(cert), func(o io.Writer) { printCert(o, "close chain", cert) })
		},
	}
}

func showBlockCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show-block CHAIN HEIGHT",
		Short: "Print a confirmed block",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := base.ParseChainID(args[0])
			if err != nil {
				return err
			}
			var h uint64
			if _, err := fmt.Sscan(args[1], &h); err != nil {
				return fmt.Errorf("height %q: want a number", args[1])
			}
			return syncedChain(cmd, id.String(), false, func(s *session, id base.ChainID, _ syncReport) (any, func(io.Writer), error) {
				ctx := cmd.Context()
				cert, err := s.c.Local().Storage().CertificateAt(ctx, id, base.BlockHeight(h))
				if err != nil {
					return nil, nil, err
				}
				b := cert.Block
				var txs []string
				for _, tx := range b.Proposed.Transactions {
					if tx.Bundle != nil {
						txs = append(txs, fmt.Sprintf("receive %d message(s) from %s height %d (%s)", len(tx.Bundle.Bundle.Messages), tx.Bundle.Origin.Short(), tx.Bundle.Bundle.Height, map[protocol.BundleAction]string{protocol.Accept: "accept", protocol.Reject: "reject"}[tx.Bundle.Action]))
					} else {
						txs = append(txs, describeOp(tx.Operation))
					}
				}
				oracles := make([][]string, len(b.Outcome.OracleResponses))
				res := showBlockJSON{Block: view.Block(cert), OracleResponses: []oracleJSON{}}
				for i, rs := range b.Outcome.OracleResponses {
					oracles[i] = []string{}
					for j := range rs {
						oracles[i] = append(oracles[i], describeOracle(&rs[j]))
						res.OracleResponses = append(res.OracleResponses, oracleResult(i, &rs[j]))
					}
				}
				fees, err := blockFees(cmd, s, b)
				if err != nil {
					return nil, nil, err
				}
				res.Fees = feesJSON{Total: fees.Total.String(), PerTransaction: make([]string, len(fees.PerTransaction)), Exact: fees.Exact}
				for i, f := range fees.PerTransaction {
					res.Fees.PerTransaction[i] = f.String()
				}
				return res, func(o io.Writer) {
					fmt.Fprintf(o, "block %d of %s\n  hash %s\n  epoch %d, %s, confirmed in the %v round by %d validators\n", h, id, b.Hash(), b.Epoch(), b.Proposed.Timestamp, cert.Round, len(cert.Signatures))
					feeNote := ""
					if !fees.Exact {
						feeNote = " at least (the policy prices fuel or bytes written, which a block does not record)"
					}
					fmt.Fprintf(o, "  fees: %s%s\n", fees.Total, feeNote)
					for i, t := range txs {
						if !fees.PerTransaction[i].IsZero() {
							t += fmt.Sprintf(" (fee %s)", fees.PerTransaction[i])
						}
						fmt.Fprintf(o, "  %d: %s\n", i, t)
						if i < len(oracles) {
							for _, r := range oracles[i] {
								fmt.Fprintf(o, "     oracle: %s\n", r)
							}
						}
					}
				}, nil
			})
		},
	}
}

// blockFees recomputes what a confirmed block paid from the block and the resource
// policy of its epoch (execution.RecordedFees).
func blockFees(cmd *cobra.Command, s *session, b *protocol.Block) (execution.BlockFees, error) {
	ctx := cmd.Context()
	g := s.w.Genesis()
	var policy *protocol.ResourcePolicy
	if b.Epoch() == 0 { // the genesis committee's epoch
		policy = &g.Committee.Policy
	} else {
		var hash *base.Hash
		err := s.c.Local().ChainState(ctx, b.ChainID(), func(st *chain.State) error {
			ecs, err := st.Execution().Committees(ctx)
			for _, ec := range ecs {
				if ec.Epoch == b.Epoch() {
					h := ec.CommitteeHash
					hash = &h
				}
			}
			return err
		})
		if err != nil {
			return execution.BlockFees{}, err
		}
		if hash == nil {
			return execution.BlockFees{}, fmt.Errorf("the fees of block %d are unknown: chain %s no longer lists the committee of epoch %d", b.Height(), b.ChainID().Short(), b.Epoch())
		}
		blob, err := s.c.Local().Storage().Blob(ctx, base.BlobID{Type: base.BlobCommittee, Hash: *hash})
		if err != nil {
			return execution.BlockFees{}, fmt.Errorf("committee of epoch %d: %w", b.Epoch(), err)
		}
		var c protocol.Committee
		if err := codec.Unmarshal(blob.Content, &c); err != nil {
			return execution.BlockFees{}, fmt.Errorf("committee of epoch %d: %w", b.Epoch(), err)
		}
		policy = &c.Policy
	}
	return execution.RecordedFees(b, policy, func(h base.Hash) (int, error) {
		blob, err := s.c.Local().Storage().Blob(ctx, base.BlobID{Type: base.BlobData, Hash: h})
		if err != nil {
			return 0, err
		}
		return blob.Size(), nil
	})
}

// showBlockJSON is a block as `show-block --json` prints it: the schema's Block (its
// transactions as operations and incoming bundles, with their index in the block), the
// fees it paid and the oracle responses it recorded.
type showBlockJSON struct {
	gql.Block
	Fees            feesJSON     `json:"fees"`
	OracleResponses []oracleJSON `json:"oracleResponses"`
}

// feesJSON is what a block paid: in total and per transaction (by index), and whether
// that is exact (see execution.RecordedFees).
type feesJSON struct {
	Total          string   `json:"total"`
	PerTransaction []string `json:"perTransaction"`
	Exact          bool     `json:"exact"`
}

// oracleJSON is an oracle response a block recorded, for its transaction.
type oracleJSON struct {
	TransactionIndex int     `json:"transactionIndex"`
	Kind             string  `json:"kind"` // BLOB, EVENT, HTTP, SERVICE, ASSERT
	Summary          string  `json:"summary"`
	Blob             *string `json:"blob,omitempty"`
	Event            *uint32 `json:"eventIndex,omitempty"`
	Status           *uint16 `json:"status,omitempty"`
	ValueBase64      *string `json:"valueBase64,omitempty"`
}

func oracleResult(tx int, r *protocol.OracleResponse) oracleJSON {
	v := oracleJSON{TransactionIndex: tx, Summary: describeOracle(r)}
	value := func() *string { s := base64.StdEncoding.EncodeToString(r.Value); return &s }
	switch r.Kind {
	case protocol.OracleBlob:
		id := r.Blob.String()
		v.Kind, v.Blob = "BLOB", &id
	case protocol.OracleEvent:
		i := r.Event.Index
		v.Kind, v.Event, v.ValueBase64 = "EVENT", &i, value()
	case protocol.OracleHTTP:
		st := r.Status
		v.Kind, v.Status, v.ValueBase64 = "HTTP", &st, value()
	case protocol.OracleService:
		v.Kind, v.ValueBase64 = "SERVICE", value()
	case protocol.OracleAssert:
		v.Kind = "ASSERT"
	default:
		v.Kind = "UNKNOWN"
	}
	return v
}

// describeOracle is one recorded oracle response, readably: payloads are quoted and
// cut to 200 bytes.
func describeOracle(r *protocol.OracleResponse) string {
	quote := func(b []byte) string {
		if len(b) > 200 {
			return strconv.Quote(string(b[:200])) + fmt.Sprintf("… (%d bytes)", len(b))
		}
		return strconv.Quote(string(b))
	}
	switch r.Kind {
	case protocol.OracleBlob:
		return "blob " + r.Blob.String()
	case protocol.OracleEvent:
		return fmt.Sprintf("event %d of chain %s: %s", r.Event.Index, r.Event.Chain.Short(), quote(r.Value))
	case protocol.OracleHTTP:
		return fmt.Sprintf("HTTP %d %s (request %s)", r.Status, quote(r.Value), r.Request.Short())
	case protocol.OracleService:
		return fmt.Sprintf("service %s (query %s)", quote(r.Value), r.Request.Short())
	case protocol.OracleAssert:
		return "assert_before passed"
	}
	return fmt.Sprintf("kind %d", r.Kind)
}

func describeOp(op *protocol.Operation) string {
	switch o := op.System.(type) {
	case *protocol.Transfer:
		return fmt.Sprintf("transfer %s from %s to %s", o.Amount, o.Owner, o.Recipient)
	case *protocol.Claim:
		return fmt.Sprintf("claim %s of %s on %s for %s", o.Amount, o.Owner, o.Target.Short(), o.Recipient)
	case *protocol.OpenChain:
		return fmt.Sprintf("open chain with %s", o.Balance)
	case nil:
		return fmt.Sprintf("application %s operation (%d bytes)", op.App.String()[:8], len(op.Bytes))
	default:
		return fmt.Sprintf("%T", o)[len("*protocol."):]
	}
}

func watchCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "watch [CHAIN]",
		Short: "Print notifications (new blocks, incoming bundles, new rounds) from every validator as they come, keeping the local replica in sync",
		Long: `Print notifications (new blocks, incoming bundles, new rounds, new events) about a chain
from every validator as they come (each once), and sync the chain's local replica after
each new block.

watch does not keep the wallet open: other commands can use the same wallet while it
runs. It opens the wallet only to sync, waiting while another command has it open.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var id base.ChainID
			var nodes []*rpc.Node
			err := withSession(cmd, walletWait, func(s *session) error {
				var err error
				if id, err = s.chainArg(args, 0); err != nil {
					return err
				}
				nodes = s.keepNodes()
				return nil
			})
			defer closeNodes(nodes)
			if err != nil {
				return err
			}
			if len(nodes) == 0 {
				return errors.New("no validator to listen to")
			}
			syncs := newKicker()
			var syncer sync.WaitGroup
			defer syncer.Wait() // a sync under way finishes and releases the wallet
			syncer.Go(func() {
				syncs.run(ctx, func() {
					err := withSession(cmd, -1, func(s *session) error {
						_, err := s.c.SyncChain(ctx, id)
						return err
					})
					if err != nil && ctx.Err() == nil {
						logger(cmd).Warn("sync after a new block failed", "chain", id.Short(), "err", err)
					}
				})
			})
			asJSON, _ := cmd.Flags().GetBool("json")
			lines := json.NewEncoder(cmd.OutOrStdout()) // JSON Lines: one notification per line
			ready := func() { fmt.Fprintf(cmd.ErrOrStderr(), "watching %s; Ctrl-C to stop\n", id) }
			listenNotifications(ctx, cmd.ErrOrStderr(), nodes, []base.ChainID{id}, ready, func(note protocol.Notification) {
				if asJSON {
					if err := lines.Encode(notificationResult(note)); err != nil {
						logger(cmd).Warn("write a notification to stdout", "err", err)
					}
				} else {
					fmt.Fprintln(cmd.OutOrStdout(), describeNotification(note))
				}
				if note.Kind == protocol.ReasonNewBlock {
					syncs.kick()
				}
			})
			return nil
		},
	}
}

func describeNotification(n protocol.Notification) string {
	switch n.Kind {
	case protocol.ReasonNewBlock:
		return fmt.Sprintf("new block %d of %s (%s)", n.Height, n.ChainID.Short(), n.Hash.Short())
	case protocol.ReasonNewIncomingBundle:
		return fmt.Sprintf("incoming bundle for %s from %s (its block %d)", n.ChainID.Short(), n.Origin.Short(), n.Height)
	case protocol.ReasonNewRound:
		return fmt.Sprintf("chain %s moved to the %v round at height %d", n.ChainID.Short(), n.Round, n.Height)
	case protocol.ReasonNewEvents:
		return fmt.Sprintf("new events on %s: stream %q of application %s now has %d (block %d)", n.ChainID.Short(), n.StreamName, n.App.String()[:8], n.NextIndex, n.Height)
	}
	return "notification"
}
