package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/crypto"
	"github.com/micachain/mica/internal/faucet"
	"github.com/micachain/mica/internal/protocol"
	"github.com/micachain/mica/internal/validator"
	"github.com/micachain/mica/internal/wallet"
)

func walletCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "wallet", Short: "Create and inspect the wallet (keys, chains followed, the network)"}
	cmd.AddCommand(walletInitCommand(), walletShowCommand(), walletSetDefaultCommand(), walletFollowCommand(), walletRequestChainCommand(), walletImportChainCommand(), agentPolicyCommand())
	return cmd
}

func faucetClient(url string) *faucet.Client {
	return faucet.NewClient(url, &http.Client{Timeout: 60 * time.Second})
}

func walletInitCommand() *cobra.Command {
	var faucetURL, genesisPath string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a wallet for a network, from a faucet (--faucet URL) or a genesis file (--genesis FILE)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var g *protocol.GenesisConfig
			var err error
			if faucetURL == "" && genesisPath == "" {
				faucetURL = os.Getenv("MICA_FAUCET_URL")
			}
			switch {
			case faucetURL != "" && genesisPath != "":
				return errors.New("give either --faucet or --genesis, not both")
			case faucetURL != "":
				g, err = faucetClient(faucetURL).Genesis(cmd.Context())
			case genesisPath != "":
				g, err = validator.ReadGenesis(genesisPath)
			default:
				return errors.New("give --faucet URL (a running faucet; default $MICA_FAUCET_URL, which `mica net up --with-faucet` prints) or --genesis FILE")
			}
			if err != nil {
				return err
			}
			dir, err := walletDir(cmd)
			if err != nil {
				return err
			}
			w, err := wallet.Create(dir, g)
			if errors.Is(err, wallet.ErrExists) {
				return fmt.Errorf("a wallet already exists at %s (use --wallet DIR for another one)", dir)
			}
			if err != nil {
				return err
			}
			defer w.Close()
			res := map[string]string{"wallet": dir, "network": g.NetworkName, "genesisHash": g.Hash().String()}
			return out(cmd, res, func(o io.Writer) {
				fmt.Fprintf(o, "created a wallet at %s for network %q (genesis %s)\n", dir, g.NetworkName, g.Hash().Short())
			})
		},
	}
	cmd.Flags().StringVar(&faucetURL, "faucet", "", "URL of a faucet serving the network's genesis (default $MICA_FAUCET_URL)")
	cmd.Flags().StringVar(&genesisPath, "genesis", "", "genesis file (written by `mica validator generate`)")
	return cmd
}

// walletJSON is `wallet show --json`: the schema's Wallet (defaultChain, chains, owners)
// without the balances, which need the local replica, plus the wallet's directory and
// network.
type walletJSON struct {
	Wallet       string      `json:"wallet"`
	Network      string      `json:"network"`
	GenesisHash  string      `json:"genesisHash"`
	DefaultChain *string     `json:"defaultChain"`
	Chains       []chainJSON `json:"chains"`
	Owners       []string    `json:"owners"`
}

// chainJSON is a chain of the wallet: the schema's WalletChain without the balance, and
// whether a fast proposal is pending (the wallet re-sends it before any other block).
type chainJSON struct {
	ChainID    string  `json:"chainId"`
	Owner      *string `json:"owner"`
	IsDefault  bool    `json:"isDefault"`
	NextHeight int64   `json:"nextHeight"`
	Pending    bool    `json:"pendingProposal"`
}

func walletShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show",
		Short: "Show the wallet's network and the chains it follows",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w, err := openWallet(cmd)
			if err != nil {
				return err
			}
			defer w.Close()
			def, hasDef := w.Default()
			g := w.Genesis()
			res := walletJSON{Wallet: w.Dir(), Network: g.NetworkName, GenesisHash: g.Hash().String(), Chains: []chainJSON{}, Owners: []string{}}
			if hasDef {
				d := def.String()
				res.DefaultChain = &d
			}
			for _, c := range w.Chains() {
				j := chainJSON{ChainID: c.ID.String(), NextHeight: int64(c.NextHeight), IsDefault: hasDef && c.ID == def, Pending: c.HasPendingProposal}
				if c.Owner != nil {
					o := c.Owner.String()
					j.Owner = &o
				}
				res.Chains = append(res.Chains, j)
			}
			owners, err := w.Keys()
			if err != nil {
				return err
			}
			for _, o := range owners {
				res.Owners = append(res.Owners, o.String())
			}
			return out(cmd, res, func(o io.Writer) {
				fmt.Fprintf(o, "wallet %s, network %q (genesis %s)\n", w.Dir(), g.NetworkName, g.Hash().Short())
				for _, c := range res.Chains {
					mark := " "
					if c.IsDefault {
						mark = "*"
					}
					owner := "(follow only)"
					if c.Owner != nil {
						owner = *c.Owner
					}
					fmt.Fprintf(o, "%s %s  next height %d  owner %s\n", mark, c.ChainID, c.NextHeight, owner)
				}
			})
		},
	}
}

func walletSetDefaultCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "set-default CHAIN",
		Short: "Make CHAIN the default chain of commands",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := base.ParseChainID(args[0])
			if err != nil {
				return err
			}
			w, err := openWallet(cmd)
			if err != nil {
				return err
			}
			defer w.Close()
			if err := w.SetDefault(id); err != nil {
				return err
			}
			if err := w.Save(); err != nil {
				return err
			}
			return out(cmd, map[string]string{"defaultChain": id.String()}, func(o io.Writer) { fmt.Fprintf(o, "default chain: %s\n", id) })
		},
	}
}

func walletFollowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "follow-chain CHAIN",
		Short: "Follow a chain (replicate it locally); owned if one of its owners is a key of the wallet",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := base.ParseChainID(args[0])
			if err != nil {
				return err
			}
			return syncedChain(cmd, id.String(), withProgress, func(s *session, id base.ChainID, r syncReport) (any, func(io.Writer), error) {
				if _, ok := s.w.Chain(id); !ok {
					if err := s.w.FollowChain(id); err != nil {
						return nil, nil, err
					}
				}
				// A chain another chain opened for a key of this wallet (such as an
				// auction chain), or a multi-owner chain one of whose owners is a key of
				// this wallet, is followed as owned, so the wallet can propose on it.
				if o, ok := s.ownerKeyOf(cmd.Context(), id); ok {
					if err := s.w.AddChain(id, &o); err != nil {
						return nil, nil, err
					}
				}
				if err := s.w.SetNextHeight(id, r.next); err != nil {
					return nil, nil, err
				}
				if err := s.w.Save(); err != nil {
					return nil, nil, err
				}
				res := s.syncResult(id, r)
				return res, func(o io.Writer) {
					how := "read-only: the wallet holds no owner's key"
					if res.Owner != nil {
						how = "signing as " + *res.Owner
					}
					fmt.Fprintf(o, "following %s (next height %d), %s\n", id, r.next, how)
				}, nil
			})
		},
	}
}

func walletRequestChainCommand() *cobra.Command {
	var faucetURL string
	cmd := &cobra.Command{
		Use:   "request-chain",
		Short: "Ask a faucet for a new funded chain owned by a new key of this wallet; prints CHAIN_ID OWNER",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if faucetURL == "" {
				faucetURL = os.Getenv("MICA_FAUCET_URL")
			}
			if faucetURL == "" {
				return errors.New("give --faucet URL or set MICA_FAUCET_URL (`mica net up --with-faucet` prints it)")
			}
			w, err := openWallet(cmd)
			if err != nil {
				return err
			}
			defer w.Close()
			fc := faucetClient(faucetURL)
			g, err := fc.Genesis(cmd.Context())
			if err != nil {
				return err
			}
			if g.Hash() != w.Genesis().Hash() {
				return fmt.Errorf("the faucet at %s serves network %q (genesis %s), not this wallet's %q (genesis %s)", faucetURL, g.NetworkName, g.Hash().Short(), w.Genesis().NetworkName, w.Genesis().Hash().Short())
			}
			key, err := w.GenerateKey(crypto.Ed25519)
			if err != nil {
				return err
			}
			owner := key.Public().Owner()
			opened, err := fc.Claim(cmd.Context(), owner)
			if err != nil {
				return err
			}
			if err := w.AddChain(opened.ChainID, &owner); err != nil {
				return err
			}
			if _, ok := w.Default(); !ok {
				if err := w.SetDefault(opened.ChainID); err != nil {
					return err
				}
			}
			if err := w.Save(); err != nil {
				return err
			}
			res := map[string]string{"chainId": opened.ChainID.String(), "owner": owner.String()}
			return out(cmd, res, func(o io.Writer) { fmt.Fprintf(o, "%s %s\n", opened.ChainID, owner) })
		},
	}
	cmd.Flags().StringVar(&faucetURL, "faucet", "", "URL of the faucet (default $MICA_FAUCET_URL)")
	return cmd
}

func keygenCommand() *cobra.Command {
	var scheme string
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Generate a key in the wallet and print its owner address",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := crypto.ParseScheme(scheme)
			if err != nil {
				return err
			}
			w, err := openWallet(cmd)
			if err != nil {
				return err
			}
			defer w.Close()
			k, err := w.GenerateKey(s)
			if err != nil {
				return err
			}
			res := map[string]string{"owner": k.Public().Owner().String(), "publicKey": k.Public().String()}
			return out(cmd, res, func(o io.Writer) { fmt.Fprintln(o, k.Public().Owner()) })
		},
	}
	cmd.Flags().StringVar(&scheme, "scheme", "ed25519", "signature scheme: ed25519, secp256k1 (Ethereum address) or mldsa65 (post-quantum)")
	return cmd
}

func walletImportChainCommand() *cobra.Command {
	var keyFile string
	cmd := &cobra.Command{
		Use:   "import-chain CHAIN --key FILE",
		Short: "Add a chain owned by a key file (such as the root chains of `mica validator generate`)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := base.ParseChainID(args[0])
			if err != nil {
				return err
			}
			if keyFile == "" {
				return errors.New("--key FILE is required")
			}
			k, err := validator.ReadKey(keyFile)
			if err != nil {
				return err
			}
			w, err := openWallet(cmd)
			if err != nil {
				return err
			}
			defer w.Close()
			if err := w.ImportKey(k); err != nil {
				return err
			}
			o := k.Public().Owner()
			if err := w.AddChain(id, &o); err != nil {
				return err
			}
			if _, ok := w.Default(); !ok {
				if err := w.SetDefault(id); err != nil {
					return err
				}
			}
			if err := w.Save(); err != nil {
				return err
			}
			return out(cmd, map[string]string{"chainId": id.String(), "owner": o.String()}, func(o2 io.Writer) { fmt.Fprintf(o2, "%s %s\n", id, o) })
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "key file of the chain's owner (mode 0600)")
	return cmd
}
