package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/client"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/netup"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/rpc"
)

// Committee and epoch commands: `mica committee ...` changes the validator set on the
// admin chain (a CreateCommittee block per change, RemoveCommittee for an old epoch),
// `mica process-new-epoch` moves a chain to the admin chain's newest epoch (process-inbox
// does it too), `mica net add-validator` starts one more validator for a local network.

// addCommitteeCommands adds the committee commands to the tree: `committee`,
// `process-new-epoch` at the top, `add-validator` under `net`.
func addCommitteeCommands(root *cobra.Command) {
	root.AddCommand(committeeCommand(), processNewEpochCommand())
	for _, c := range root.Commands() {
		if c.Name() == "net" {
			c.AddCommand(netAddValidatorCommand())
		}
	}
	for _, c := range leafCommands(root) {
		if ex, ok := committeeExamples[c.CommandPath()]; ok && c.Example == "" {
			c.Example = ex
		}
	}
}

// committeeExamples are the examples of the committee commands (see commandExamples).
var committeeExamples = map[string]string{
	"mica committee show":             "  mica committee show\n  mica committee show --json",
	"mica committee add-validator":    "  mica committee add-validator --public-key $KEY --address 127.0.0.1:13004\n  mica committee add-validator --public-key $KEY --address validator5.example:443 --votes 2 --tls-cert validator5.pem",
	"mica committee remove-validator": "  mica committee remove-validator --public-key $KEY",
	"mica committee set-votes":        "  mica committee set-votes --public-key $KEY --votes 2",
	"mica committee remove-epoch":     "  mica committee remove-epoch 0",
	"mica process-new-epoch":          "  mica process-new-epoch\n  mica process-new-epoch $CHAIN --json",
	"mica net add-validator":          "  mica net add-validator --path /tmp/mica-net\n  mica net add-validator --path /tmp/mica-net --port 13010 --json",
}

// dialMember returns the client's Config.Dial: a member of a verified committee that
// joined after genesis, reached at the address the committee gives, over TLS pinned to
// the certificate the network description records for that address (plaintext if it
// records none).
func (s *session) dialMember(dial map[string]rpc.DialOptions, genesis base.Hash) func(ctx context.Context, v protocol.ValidatorState) (client.ValidatorNode, error) {
	return func(ctx context.Context, v protocol.ValidatorState) (client.ValidatorNode, error) {
		opts, ok := dial[v.NetworkAddress]
		if !ok {
			opts = rpc.DialOptions{}
		}
		opts.GenesisHash, opts.CallTimeout = genesis, 5*time.Second
		n, err := rpc.Dial(ctx, v.NetworkAddress, opts)
		if err != nil {
			return nil, err
		}
		s.nodes = append(s.nodes, n)
		return countingNode{Node: n, s: s, addr: v.NetworkAddress}, nil
	}
}

// validatorJSON is a committee member in `committee show --json`.
type validatorJSON struct {
	PublicKey string `json:"public_key"`
	Address   string `json:"address"`
	Votes     uint64 `json:"votes"`
}

type epochJSON struct {
	Epoch      uint32          `json:"epoch"`
	Committee  string          `json:"committee_hash"`
	Validators []validatorJSON `json:"validators"`
	// Quorum is the votes a certificate of this epoch needs.
	Quorum uint64 `json:"quorum"`
}

type chainEpochJSON struct {
	Chain   string   `json:"chain_id"`
	Epoch   uint32   `json:"epoch"`
	Trusted []uint32 `json:"trusted_epochs"`
	// Behind says the chain should run process-new-epoch (a newer epoch exists, or it
	// still trusts an epoch the admin chain removed).
	Behind  bool `json:"behind"`
	Removed bool `json:"in_removed_epoch"`
}

type committeeShowJSON struct {
	AdminChain   string           `json:"admin_chain"`
	CurrentEpoch uint32           `json:"current_epoch"`
	Epochs       []epochJSON      `json:"epochs"`
	Chains       []chainEpochJSON `json:"chains"`
	AdminOwned   bool             `json:"admin_owned"`
}

// adminState syncs the admin chain and returns its epochs and their committees (the
// epochs it has not removed, oldest first).
func (s *session) adminState(ctx context.Context) (base.ChainID, base.Epoch, []protocol.EpochCommittee, []*protocol.Committee, error) {
	admin := s.w.Genesis().ChainIDs()[0]
	if _, err := s.c.SyncChain(ctx, admin); err != nil {
		return admin, 0, nil, nil, fmt.Errorf("sync the admin chain: %w", err)
	}
	st, err := s.c.EpochStatus(ctx, admin)
	if err != nil {
		return admin, 0, nil, nil, err
	}
	var cs []*protocol.Committee
	for _, ec := range st.AdminTrusted {
		c, err := s.c.AdminCommittee(ctx, ec.CommitteeHash)
		if err != nil {
			return admin, 0, nil, nil, fmt.Errorf("committee of epoch %d: %w", ec.Epoch, err)
		}
		cs = append(cs, c)
	}
	return admin, st.AdminEpoch, st.AdminTrusted, cs, nil
}

func committeeCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "committee", Short: "Show and change the validator committee (on the admin chain)"}
	show := &cobra.Command{
		Use:   "show",
		Short: "Show the admin chain's epochs and their committees, and the epoch each chain of the wallet is in",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := connect(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			ctx := cmd.Context()
			admin, current, ecs, cs, err := s.adminState(ctx)
			if err != nil {
				return err
			}
			res := committeeShowJSON{AdminChain: admin.String(), CurrentEpoch: uint32(current)}
			if ch, ok := s.w.Chain(admin); ok && ch.Owner != nil {
				res.AdminOwned = true
			}
			for i, ec := range ecs {
				e := epochJSON{Epoch: uint32(ec.Epoch), Committee: ec.CommitteeHash.String(), Quorum: cs[i].QuorumThreshold()}
				for _, v := range cs[i].Validators {
					e.Validators = append(e.Validators, validatorJSON{PublicKey: v.PublicKey.String(), Address: v.NetworkAddress, Votes: v.Votes})
				}
				res.Epochs = append(res.Epochs, e)
			}
			for _, ch := range s.w.Chains() {
				if _, err := s.c.SyncChain(ctx, ch.ID); err != nil {
					return fmt.Errorf("sync chain %s: %w", ch.ID, err)
				}
				st, err := s.c.EpochStatus(ctx, ch.ID)
				if err != nil {
					return err
				}
				c := chainEpochJSON{Chain: ch.ID.String(), Epoch: uint32(st.Epoch), Behind: len(st.Migration()) > 0, Removed: st.Removed()}
				for _, e := range st.Trusted {
					c.Trusted = append(c.Trusted, uint32(e))
				}
				res.Chains = append(res.Chains, c)
			}
			return out(cmd, res, func(o io.Writer) {
				fmt.Fprintf(o, "admin chain %s, current epoch %d\n", admin, current)
				for _, e := range res.Epochs {
					fmt.Fprintf(o, "epoch %d (committee %s, quorum %d votes):\n", e.Epoch, e.Committee[:12], e.Quorum)
					for _, v := range e.Validators {
						fmt.Fprintf(o, "  %s  %s  %d votes\n", v.PublicKey, v.Address, v.Votes)
					}
				}
				fmt.Fprintln(o, "chains of this wallet:")
				for _, c := range res.Chains {
					note := ""
					switch {
					case c.Removed:
						note = fmt.Sprintf("  (its epoch was removed: run `mica process-new-epoch %s`)", c.Chain)
					case c.Behind:
						note = fmt.Sprintf("  (behind: run `mica process-new-epoch %s`)", c.Chain)
					}
					fmt.Fprintf(o, "  %s  epoch %d%s\n", c.Chain, c.Epoch, note)
				}
			})
		},
	}
	var add struct {
		key, addr, cert string
		votes           uint64
		noCheck         bool
	}
	addValidator := &cobra.Command{
		Use:   "add-validator --public-key KEY --address HOST:PORT [--votes N]",
		Short: "Create the next epoch: the current committee plus a validator (needs the admin chain's key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if add.key == "" || add.addr == "" {
				return errors.New("--public-key KEY and --address HOST:PORT are required (`mica net add-validator` prints both)")
			}
			pk, err := crypto.ParsePublicKey(add.key)
			if err != nil {
				return fmt.Errorf("--public-key: %w", err)
			}
			if err := checkAddress(add.addr); err != nil {
				return err
			}
			if add.votes == 0 {
				return errors.New("--votes must be at least 1")
			}
			if add.cert != "" {
				if _, err := rpc.PinnedCredentialsFile(add.cert); err != nil {
					return fmt.Errorf("--tls-cert: %w", err)
				}
			}
			return changeCommittee(cmd, "add validator", func(s *session, c *protocol.Committee) (*protocol.Committee, error) {
				for _, v := range c.Validators {
					if v.PublicKey.Compare(pk) == 0 {
						return nil, fmt.Errorf("validator %s is already a member (%d votes, %s); use `mica committee set-votes` to change its votes", pk, v.Votes, v.NetworkAddress)
					}
					if v.NetworkAddress == add.addr {
						return nil, fmt.Errorf("validator %s already uses address %s", v.PublicKey, add.addr)
					}
				}
				if add.cert != "" {
					if err := recordTLSCert(cmd, add.addr, add.cert); err != nil {
						return nil, err
					}
				}
				if !add.noCheck {
					if err := checkReachable(cmd, s, add.addr, add.cert); err != nil {
						return nil, err
					}
				}
				vs := append(slices.Clone(c.Validators), protocol.ValidatorState{PublicKey: pk, NetworkAddress: add.addr, Votes: add.votes})
				return protocol.NewCommittee(vs, c.Policy)
			})
		},
	}
	addValidator.Flags().StringVar(&add.key, "public-key", "", "the validator's public key (ed25519:HEX, as `mica net add-validator` prints it)")
	addValidator.Flags().StringVar(&add.addr, "address", "", "the validator's public address HOST:PORT")
	addValidator.Flags().Uint64Var(&add.votes, "votes", 1, "its voting weight")
	addValidator.Flags().StringVar(&add.cert, "tls-cert", "", "its TLS certificate (PEM): recorded in the network description (network.json) so that clients pin it")
	addValidator.Flags().BoolVar(&add.noCheck, "no-check", false, "do not check first that the validator answers at --address with this network's genesis")

	var removeKey string
	removeValidator := &cobra.Command{
		Use:   "remove-validator --public-key KEY",
		Short: "Create the next epoch: the current committee without a validator (needs the admin chain's key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pk, err := parseKeyFlag(removeKey)
			if err != nil {
				return err
			}
			return changeCommittee(cmd, "remove validator", func(_ *session, c *protocol.Committee) (*protocol.Committee, error) {
				i := slices.IndexFunc(c.Validators, func(v protocol.ValidatorState) bool { return v.PublicKey.Compare(pk) == 0 })
				if i < 0 {
					return nil, notMember(pk)
				}
				if len(c.Validators) == 1 {
					return nil, errors.New("cannot remove the last validator of the committee")
				}
				return protocol.NewCommittee(slices.Delete(slices.Clone(c.Validators), i, i+1), c.Policy)
			})
		},
	}
	removeValidator.Flags().StringVar(&removeKey, "public-key", "", "the validator's public key (as `mica committee show` prints it)")

	var votesKey string
	var votes uint64
	setVotes := &cobra.Command{
		Use:   "set-votes --public-key KEY --votes N",
		Short: "Create the next epoch: the current committee with a validator's voting weight changed (needs the admin chain's key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pk, err := parseKeyFlag(votesKey)
			if err != nil {
				return err
			}
			if votes == 0 {
				return errors.New("--votes must be at least 1 (use `mica committee remove-validator` to remove a validator)")
			}
			return changeCommittee(cmd, "set votes", func(_ *session, c *protocol.Committee) (*protocol.Committee, error) {
				vs := slices.Clone(c.Validators)
				i := slices.IndexFunc(vs, func(v protocol.ValidatorState) bool { return v.PublicKey.Compare(pk) == 0 })
				if i < 0 {
					return nil, notMember(pk)
				}
				if vs[i].Votes == votes {
					return nil, fmt.Errorf("validator %s already has %d votes", pk, votes)
				}
				vs[i].Votes = votes
				return protocol.NewCommittee(vs, c.Policy)
			})
		},
	}
	setVotes.Flags().StringVar(&votesKey, "public-key", "", "the validator's public key")
	setVotes.Flags().Uint64Var(&votes, "votes", 0, "its new voting weight (at least 1)")

	removeEpoch := &cobra.Command{
		Use:   "remove-epoch EPOCH",
		Short: "Remove an old epoch: its committee certifies nothing more once chains process the removal (needs the admin chain's key)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.ParseUint(args[0], 10, 32)
			if err != nil {
				return fmt.Errorf("epoch %q: want a number (see `mica committee show`)", args[0])
			}
			s, cc, err := adminSession(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			ctx := cmd.Context()
			_, current, ecs, _, err := s.adminState(ctx)
			if err != nil {
				return err
			}
			e := base.Epoch(n)
			if e == current {
				return fmt.Errorf("epoch %d is the current epoch: create the next one first (`mica committee add-validator`, ...)", e)
			}
			if !slices.ContainsFunc(ecs, func(ec protocol.EpochCommittee) bool { return ec.Epoch == e }) {
				return fmt.Errorf("epoch %d is not a live epoch of the admin chain (unknown or already removed; see `mica committee show`)", e)
			}
			cert, err := s.commit(ctx, cc, func() (*protocol.Certificate, error) {
				return cc.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(&protocol.RemoveCommittee{Epoch: e})}, nil)
			})
			if err != nil {
				return err
			}
			res := map[string]any{"block": blockResult(cert), "removed_epoch": uint32(e)}
			return out(cmd, res, func(o io.Writer) {
				printCert(o, fmt.Sprintf("remove epoch %d", e), cert)
				fmt.Fprintln(o, "  chains stop trusting it when they process the removal: `mica process-new-epoch CHAIN` (or `mica process-inbox CHAIN`)")
			})
		},
	}
	cmd.AddCommand(show, addValidator, removeValidator, setVotes, removeEpoch)
	return cmd
}

func parseKeyFlag(s string) (crypto.PublicKey, error) {
	if s == "" {
		return crypto.PublicKey{}, errors.New("--public-key KEY is required (see `mica committee show`)")
	}
	pk, err := crypto.ParsePublicKey(s)
	if err != nil {
		return crypto.PublicKey{}, fmt.Errorf("--public-key: %w", err)
	}
	return pk, nil
}

func notMember(pk crypto.PublicKey) error {
	return fmt.Errorf("validator %s is not a member of the current committee (see `mica committee show`)", pk)
}

// checkAddress checks HOST:PORT.
func checkAddress(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" {
		return fmt.Errorf("--address %q: want HOST:PORT", a)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return fmt.Errorf("--address %q: %q is not a TCP port", a, port)
	}
	if len(a) > 255 {
		return fmt.Errorf("--address: %d characters, at most 255", len(a))
	}
	return nil
}

// adminSession connects and returns a client for the admin chain, which the wallet must
// own.
func adminSession(cmd *cobra.Command) (*session, *client.ChainClient, error) {
	s, err := connect(cmd)
	if err != nil {
		return nil, nil, err
	}
	admin := s.w.Genesis().ChainIDs()[0]
	if ch, ok := s.w.Chain(admin); !ok || ch.Owner == nil {
		s.Close()
		return nil, nil, fmt.Errorf("this wallet does not hold the key of the admin chain %s: only its owner changes the committee (on a local network, the wallet `mica net up` prints: export MICA_WALLET=...)", admin.Short())
	}
	cc, err := s.chainClient(admin)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, cc, nil
}

// changeCommittee creates the next epoch on the admin chain with the committee change
// makes from the current one.
func changeCommittee(cmd *cobra.Command, what string, change func(s *session, c *protocol.Committee) (*protocol.Committee, error)) error {
	s, cc, err := adminSession(cmd)
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := cmd.Context()
	_, current, ecs, cs, err := s.adminState(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(ecs, func(ec protocol.EpochCommittee) bool { return ec.Epoch == current })
	if i < 0 {
		return fmt.Errorf("the admin chain has no committee for its current epoch %d", current)
	}
	next, err := change(s, cs[i])
	if err != nil {
		return err
	}
	e := current + 1
	cert, err := s.commit(ctx, cc, func() (*protocol.Certificate, error) {
		return cc.ExecuteOperations(ctx, []protocol.Operation{protocol.SystemOp(&protocol.CreateCommittee{Epoch: e, Committee: *next})}, nil)
	})
	if err != nil {
		return err
	}
	res := map[string]any{"block": blockResult(cert), "epoch": uint32(e)}
	res["committee_hash"] = next.Hash().String()
	var vs []validatorJSON
	for _, v := range next.Validators {
		vs = append(vs, validatorJSON{PublicKey: v.PublicKey.String(), Address: v.NetworkAddress, Votes: v.Votes})
	}
	res["validators"] = vs
	return out(cmd, res, func(o io.Writer) {
		printCert(o, what, cert)
		fmt.Fprintf(o, "  epoch %d: %d validators, %d votes, quorum %d\n", e, len(next.Validators), next.TotalVotes(), next.QuorumThreshold())
		fmt.Fprintln(o, "  chains move to it with `mica process-new-epoch CHAIN` (or `mica process-inbox CHAIN`)")
	})
}

// checkReachable checks that a validator answers at addr with this network's genesis.
func checkReachable(cmd *cobra.Command, s *session, addr, cert string) error {
	opts := rpc.DialOptions{GenesisHash: s.w.Genesis().Hash(), CallTimeout: 5 * time.Second}
	if cert == "" {
		dial, err := validatorDialOptions(cmd, opts)
		if err != nil {
			return err
		}
		if o, ok := dial[addr]; ok {
			opts = o
		}
	} else {
		creds, err := rpc.PinnedCredentialsFile(cert)
		if err != nil {
			return fmt.Errorf("--tls-cert: %w", err)
		}
		opts.Credentials = creds
	}
	n, err := rpc.Dial(cmd.Context(), addr, opts)
	if err != nil {
		return fmt.Errorf("validator at %s: %w (start it first, e.g. `mica net add-validator`, or pass --no-check)", addr, err)
	}
	defer n.Close()
	h, err := n.GenesisHash(cmd.Context())
	if err != nil {
		// Not the transport's words ("connection refused" would be read as this
		// network being down): the validator to add is what does not answer.
		return fmt.Errorf("no validator answers at %s: start it first (on a local network, `mica net add-validator`), or pass --no-check to add it anyway", addr)
	}
	if h != s.w.Genesis().Hash() {
		return fmt.Errorf("the validator at %s serves another network (genesis %s)", addr, h.Short())
	}
	return nil
}

// recordTLSCert records a validator's TLS certificate in the network description in
// use, so that every client reading it pins the certificate.
func recordTLSCert(cmd *cobra.Command, addr, cert string) error {
	path := networkFilePath(cmd)
	if path == "" {
		return errors.New("--tls-cert needs a network description to record it in (--network FILE or $MICA_NETWORK)")
	}
	abs, err := filepath.Abs(cert)
	if err != nil {
		return err
	}
	return netup.RecordValidator(path, netup.ValidatorInfo{Name: "validator-" + addr, Address: addr, TLSCert: abs})
}

// migrate moves a chain to the admin chain's newest epoch (and drops the epochs the admin
// chain removed) if it is behind; it returns the block's certificate, if any, and the
// status before it.
func (s *session) migrate(ctx context.Context, cc *client.ChainClient) (*protocol.Certificate, *client.EpochStatus, error) {
	var st *client.EpochStatus
	cert, err := s.commit(ctx, cc, func() (*protocol.Certificate, error) {
		cert, status, err := cc.MigrateEpochs(ctx)
		if status != nil {
			st = status
		}
		return cert, err
	})
	return cert, st, err
}

func migrationLine(cert *protocol.Certificate, st *client.EpochStatus) string {
	if cert == nil || st == nil {
		return ""
	}
	if st.Epoch < st.AdminEpoch {
		return fmt.Sprintf("chain %s moved from epoch %d to epoch %d (block %d)", st.Chain.Short(), st.Epoch, st.AdminEpoch, cert.Height())
	}
	return fmt.Sprintf("chain %s stopped trusting the epochs the admin chain removed (block %d)", st.Chain.Short(), cert.Height())
}

// migrateFirst is process-inbox's first step: move the chain to the newest epoch, saying
// so (on stderr under --json, whose stdout is the inbox result).
func migrateFirst(cmd *cobra.Command, s *session, cc *client.ChainClient) error {
	cert, st, err := s.migrate(cmd.Context(), cc)
	if err != nil {
		return fmt.Errorf("move chain %s to the newest epoch: %w", cc.ID().Short(), err)
	}
	if line := migrationLine(cert, st); line != "" {
		w := cmd.OutOrStdout()
		if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
			w = cmd.ErrOrStderr()
		}
		fmt.Fprintln(w, line)
	}
	return nil
}

func processNewEpochCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "process-new-epoch [CHAIN]",
		Short: "Move a chain to the admin chain's newest epoch and stop trusting the epochs it removed (process-inbox does it too)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, id, err := connectOn(cmd, strings.Join(args, ""))
			if err != nil {
				return err
			}
			defer s.Close()
			if id == s.w.Genesis().ChainIDs()[0] {
				return errors.New("the admin chain creates the epochs: it has none to process (`mica committee show`)")
			}
			cc, err := s.chainClient(id)
			if err != nil {
				return err
			}
			cert, st, err := s.migrate(cmd.Context(), cc)
			if err != nil {
				return err
			}
			res := map[string]any{"block": blockResult(cert)}
			if st != nil {
				res["fromEpoch"] = uint32(st.Epoch)
				res["epoch"] = uint32(max(st.Epoch, st.AdminEpoch))
			}
			return out(cmd, res, func(o io.Writer) {
				if cert == nil {
					e := base.Epoch(0)
					if st != nil {
						e = st.Epoch
					}
					fmt.Fprintf(o, "chain %s is already in the newest epoch (%d)\n", id.Short(), e)
					return
				}
				printCert(o, "process new epoch", cert)
				fmt.Fprintf(o, "  %s\n", migrationLine(cert, st))
			})
		},
	}
}

func netAddValidatorCommand() *cobra.Command {
	var o netup.AddOptions
	cmd := &cobra.Command{
		Use:   "add-validator",
		Short: "Start one more validator for the local network running under --path; prints its public key and address for `mica committee add-validator`",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.Binary, err = os.Executable(); err != nil {
				return err
			}
			if o.Dir, err = filepath.Abs(o.Dir); err != nil {
				return err
			}
			v, err := netup.AddValidator(cmd.Context(), o)
			if err != nil {
				return err
			}
			return out(cmd, v, func(w io.Writer) {
				fmt.Fprintf(w, "%s running on %s (pid %d, log %s)\n", v.Name, v.Address, v.PID, v.Log)
				fmt.Fprintf(w, "public key: %s\n", v.PublicKey)
				fmt.Fprintln(w, "make it a committee member with:")
				fmt.Fprintf(w, "  mica committee add-validator --public-key %s --address %s\n", v.PublicKey, v.Address)
			})
		},
	}
	cmd.Flags().StringVar(&o.Dir, "path", "mica-net", "directory of the running network")
	cmd.Flags().IntVar(&o.Port, "port", 0, "the new validator's port (default: after the highest port in use)")
	return cmd
}
