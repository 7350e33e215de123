package nft

import (
	"net/netip"

	"github.com/gaissmai/bart"
)

// mirror is what the Enforcer has put into one kind of set: each entry's
// expiry in Unix nanoseconds, 0 for never. Addresses and networks are kept
// apart, as in the kernel, so that finding the networks nested in a wide one
// never walks the (possibly million) single addresses.
type mirror struct {
	nets  *bart.Table[int64]
	addrs map[netip.Addr]int64
}

func newMirror() *mirror {
	return &mirror{nets: new(bart.Table[int64]), addrs: map[netip.Addr]int64{}}
}

func (m *mirror) get(p netip.Prefix) (int64, bool) {
	if p.IsSingleIP() {
		v, ok := m.addrs[p.Addr()]
		return v, ok
	}
	return m.nets.Get(p)
}

func (m *mirror) set(p netip.Prefix, exp int64) {
	if p.IsSingleIP() {
		m.addrs[p.Addr()] = exp
		return
	}
	m.nets.Insert(p, exp)
}

func (m *mirror) del(p netip.Prefix) {
	if p.IsSingleIP() {
		delete(m.addrs, p.Addr())
		return
	}
	m.nets.Delete(p)
}

func (m *mirror) size() int { return len(m.addrs) + m.nets.Size() }

// all yields every entry, live or not.
func (m *mirror) all(yield func(netip.Prefix, int64) bool) {
	for a, v := range m.addrs {
		if !yield(netip.PrefixFrom(a, a.BitLen()), v) {
			return
		}
	}
	for p, v := range m.nets.All() {
		if !yield(p, v) {
			return
		}
	}
}
