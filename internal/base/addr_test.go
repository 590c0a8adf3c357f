package base

import (
	"net/netip"
	"testing"
)

func TestAddressBucket(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":            "192.0.2.7",
		"::ffff:192.0.2.7":     "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::",
		"fe80::1%eth0":         "fe80::",
		"2001:db8:1:3::1":      "2001:db8:1:3::",
	} {
		if got := AddressBucket(netip.MustParseAddr(in)); got.String() != want {
			t.Errorf("AddressBucket(%s) = %s, want %s", in, got, want)
		}
	}
	if got := AddressBucket(netip.Addr{}); got.IsValid() {
		t.Errorf("AddressBucket(zero) = %s, want the zero address", got)
	}
}
