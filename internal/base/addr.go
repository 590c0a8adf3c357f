package base

import "net/netip"

// IPv6BucketBits is the prefix length by which per-address bounds count IPv6 peers: one
// host commonly holds a whole /64, so counting single IPv6 addresses would be no bound.
const IPv6BucketBits = 64

// AddressBucket is the unit per-address bounds count a peer by (the faucet's chains per
// address, a validator's request slots and subscriptions per address): an IPv4 address
// as such (not mapped into IPv6), or the first address of an IPv6 address's /64, without
// its zone.
func AddressBucket(a netip.Addr) netip.Addr {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		if p, err := a.Prefix(IPv6BucketBits); err == nil {
			return p.Addr()
		}
	}
	return a
}
