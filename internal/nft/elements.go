package nft

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/nftables"
)

// Entry is one address or prefix to block or isolate.
type Entry struct {
	// Prefix is an address (/32, /128) or a network. Host bits are ignored.
	Prefix netip.Prefix
	// TTL is how long the entry lasts from the moment it reaches the kernel.
	// Zero means until it is removed; below one millisecond is rounded up.
	TTL time.Duration
}

// ErrInvalidEntry is wrapped by the errors for entries that cannot be enforced.
var ErrInvalidEntry = errors.New("nft: invalid entry")

// maxElemsPerMsg bounds the elements in one NEWSETELEM or DELSETELEM message.
// google/nftables v0.3.0 puts all elements of one call into one netlink
// attribute, whose length field is 16 bits: an IPv6 element with a timeout
// takes up to 48 bytes, so 1024 of them (49 KiB) stay under 64 KiB.
const maxElemsPerMsg = 1024

// maxTTL keeps timeouts within what the kernel accepts (it stores them in
// jiffies); a decision that long is a configuration mistake, not a block.
const maxTTL = 10 * 365 * 24 * time.Hour

// check validates e and returns its canonical (masked, unmapped) prefix.
func (e Entry) check() (netip.Prefix, error) {
	if !e.Prefix.IsValid() {
		return netip.Prefix{}, fmt.Errorf("%w: prefix %v is not a valid address or network", ErrInvalidEntry, e.Prefix)
	}
	if e.TTL < 0 {
		return netip.Prefix{}, fmt.Errorf("%w: %v has a negative TTL %v", ErrInvalidEntry, e.Prefix, e.TTL)
	}
	if e.TTL > maxTTL {
		return netip.Prefix{}, fmt.Errorf("%w: %v has a TTL of %v, longer than the %v the kernel can keep", ErrInvalidEntry, e.Prefix, e.TTL, maxTTL)
	}
	return canonical(e.Prefix)
}

// canonical masks p and turns an IPv4-mapped IPv6 prefix into IPv4, so that
// ::ffff:10.0.0.1/128 and 10.0.0.1/32 are one entry in the IPv4 set.
func canonical(p netip.Prefix) (netip.Prefix, error) {
	a := p.Addr()
	if a.Is4In6() {
		bits := p.Bits() - 96
		if bits < 0 {
			return netip.Prefix{}, fmt.Errorf("%w: %v covers more than the IPv4-mapped range", ErrInvalidEntry, p)
		}
		p = netip.PrefixFrom(a.Unmap(), bits)
	}
	return p.Masked(), nil
}

// lastAddr is the highest address inside p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// elementsFor is p's elements in the set sets.forPrefix chooses: one for an
// address in a hash set, an interval otherwise.
func elementsFor(p netip.Prefix, ttl time.Duration) []nftables.SetElement {
	if p.IsSingleIP() {
		if ttl > 0 && ttl < time.Millisecond {
			ttl = time.Millisecond
		}
		return []nftables.SetElement{{Key: p.Addr().AsSlice(), Timeout: ttl}}
	}
	return intervalElements(p, ttl)
}

// intervalElements turns p into the kernel's form for an interval set: a start
// element and an end element one past its last address (none when p runs to
// the top of the address space). Only the start element carries the timeout:
// the kernel refuses one on an interval end (EINVAL) and expires the pair
// together.
func intervalElements(p netip.Prefix, ttl time.Duration) []nftables.SetElement {
	if ttl > 0 && ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	els := make([]nftables.SetElement, 1, 2)
	els[0] = nftables.SetElement{Key: p.Addr().AsSlice(), Timeout: ttl}
	if next := lastAddr(p).Next(); next.IsValid() {
		els = append(els, nftables.SetElement{Key: next.AsSlice(), IntervalEnd: true})
	}
	return els
}
