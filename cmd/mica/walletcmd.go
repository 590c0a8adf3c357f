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
			res := map[string]string{"wallet": dir, "network": g.NetworkName, "genesis_hash": g.Hash().String()}
			return out(cmd, res, func(o io.Writer) {
				fmt.Fprintf(o, "created a wallet at %s for network %q (genesis %s)\n", dir, g.NetworkName, g.Hash().Short())
			})
		},
	}
	cmd.Flags().StringVar(&faucetURL, "faucet", "", "URL of a faucet serving the network's genesis (default $MICA_FAUCET_URL)")
	cmd.Flags().StringVar(&genesisPath, "genesis", "", "genesis file (written by `mica validator generate`)")
	return cmd
}

type chainJSON struct {
	ChainID    string `json:"chain_id"`
	Owner      string `json:"owner,omitempty"`
	NextHeight uint64 `json:"next_height"`
	Default    bool   `json:"default,omitempty"`
	Pending    bool   `json:"pending_proposal,omitempty"`
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
			var chains []chainJSON
			for _, c := range w.Chains() {
				j := chainJSON{ChainID: c.ID.String(), NextHeight: uint64(c.NextHeight), Default: hasDef && c.ID == def, Pending: c.HasPendingProposal}
				if c.Owner != nil {
					j.Owner = c.Owner.String()
				}
				chains = append(chains, j)
			}
			g := w.Genesis()
			res := map[string]any{"wallet": w.Dir(), "network": g.NetworkName, "genesis_hash": g.Hash().String(), "chains": chains}
			return out(cmd, res, func(o io.Writer) {
				fmt.Fprintf(o, "wallet %s, network %q (genesis %s)\n", w.Dir(), g.NetworkName, g.Hash().Short())
				for _, c := range chains {
					mark := " "
					if c.Default {
						mark = "*"
					}
					owner := "(follow only)"
					if c.Owner != "" {
						owner = c.Owner
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
			return out(cmd, map[string]string{"default": id.String()}, func(o io.Writer) { fmt.Fprintf(o, "default chain: %s\n", id) })
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
			s, err := connect(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			next, err := s.c.SyncChain(cmd.Context(), id)
			if err != nil {
				return fmt.Errorf("chain %s: %w", id, err)
			}
			if _, ok := s.w.Chain(id); !ok {
				if err := s.w.FollowChain(id); err != nil {
					return err
				}
			}
			// A chain another chain opened for a key of this wallet (such as an
			// auction chain) is followed as owned, so the wallet can propose on it.
			if o, ok := s.ownerKeyOf(cmd.Context(), id); ok {
				if err := s.w.AddChain(id, &o); err != nil {
					return err
				}
			}
			_ = s.w.SetNextHeight(id, next)
			if err := s.w.Save(); err != nil {
				return err
			}
			return out(cmd, map[string]any{"chain_id": id.String(), "next_height": uint64(next)}, func(o io.Writer) {
				fmt.Fprintf(o, "following %s (next height %d)\n", id, next)
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
			res := map[string]string{"chain_id": opened.ChainID.String(), "owner": owner.String()}
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
			res := map[string]string{"owner": k.Public().Owner().String(), "public_key": k.Public().String()}
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
			return out(cmd, map[string]string{"chain_id": id.String(), "owner": o.String()}, func(o2 io.Writer) { fmt.Fprintf(o2, "%s %s\n", id, o) })
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "key file of the chain's owner (mode 0600)")
	return cmd
}
