package protocol

import (
	"github.com/micachain/mica/internal/base"
	"github.com/micachain/mica/internal/codec"
	"github.com/micachain/mica/internal/crypto"
)

// GenesisChain is a root chain of the genesis configuration.
type GenesisChain struct {
	Ownership ChainOwnership
	Balance   base.Amount
}

// GenesisConfig defines a network: its committee (with the resource policy) at epoch 0
// and its root chains. Root chain 0 is the admin chain.
type GenesisConfig struct {
	NetworkName string
	Timestamp   base.Timestamp
	Committee   Committee
	Chains      []GenesisChain
}

func (g *GenesisConfig) Encode(w *codec.Writer) {
	w.String(g.NetworkName)
	w.U64(uint64(g.Timestamp))
	g.Committee.Encode(w)
	codec.EncodeSlice(w, g.Chains, func(w *codec.Writer, c *GenesisChain) { c.Ownership.Encode(w); w.Amount(c.Balance) })
}

func (g *GenesisConfig) Decode(r *codec.Reader) {
	g.NetworkName = r.String()
	g.Timestamp = base.Timestamp(r.U64())
	g.Committee.Decode(r)
	g.Chains = codec.DecodeSlice(r, 20, func(r *codec.Reader, c *GenesisChain) { c.Ownership.Decode(r); c.Balance = r.Amount() })
}

// Hash identifies the network; wallets compare it to refuse a wrong network.
func (g *GenesisConfig) Hash() base.Hash { return crypto.HashValue("GenesisConfig", g) }

// Validate checks there is at least one chain, the committee is valid, and the total
// supply does not overflow.
func (g *GenesisConfig) Validate() error {
	if len(g.Chains) == 0 {
		return base.Invalidf("genesis has no chains (root chain 0 is the admin chain)")
	}
	if err := g.Committee.Validate(); err != nil {
		return err
	}
	var total base.Amount
	for i := range g.Chains {
		if err := g.Chains[i].Ownership.Validate(); err != nil {
			return err
		}
		var err error
		if total, err = total.Add(g.Chains[i].Balance); err != nil {
			return base.Invalidf("genesis total supply overflows")
		}
	}
	return nil
}

// Descriptions returns the descriptions of the root chains; index 0 is the admin chain.
func (g *GenesisConfig) Descriptions() []ChainDescription {
	committees := []EpochCommittee{{Epoch: 0, CommitteeHash: g.Committee.Hash()}}
	out := make([]ChainDescription, len(g.Chains))
	var admin base.ChainID
	for i := range g.Chains {
		d := ChainDescription{
			Origin:     RootOrigin(uint32(i)),
			Timestamp:  g.Timestamp,
			AdminChain: admin,
			Committees: committees,
			Config:     InitialChainConfig{Ownership: g.Chains[i].Ownership, Epoch: 0, Balance: g.Chains[i].Balance},
		}
		out[i] = d
		if i == 0 {
			admin = d.ID()
		}
	}
	return out
}

// AdminChainID returns the id of root chain 0.
func (g *GenesisConfig) AdminChainID() base.ChainID {
	d := g.Descriptions()
	return d[0].ID()
}

// ChainIDs returns the ids of all root chains.
func (g *GenesisConfig) ChainIDs() []base.ChainID {
	ds := g.Descriptions()
	ids := make([]base.ChainID, len(ds))
	for i := range ds {
		ids[i] = ds[i].ID()
	}
	return ids
}

// TotalSupply returns the sum of the genesis balances.
func (g *GenesisConfig) TotalSupply() base.Amount {
	var total base.Amount
	for i := range g.Chains {
		total, _ = total.Add(g.Chains[i].Balance)
	}
	return total
}
