package nft

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// newTestEnforcer sets up an Enforcer in a fresh network namespace, or skips
// the test when namespaces cannot be made (not root, no nf_tables).
func newTestEnforcer(t testing.TB, cfg Config) (*Enforcer, int) {
	t.Helper()
	ns, err := NewNetNS()
	if err != nil {
		t.Skipf("skipping: cannot create a network namespace for the kernel test (run as root on Linux with nf_tables): %v", err)
	}
	t.Cleanup(func() { unix.Close(ns) })
	cfg.NetNS = ns
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.Setup(context.Background()); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	return e, ns
}

// kernelPrefixes reads k's sets back and turns the interval elements into
// prefixes again, with their timeouts.
func kernelPrefixes(t testing.TB, e *Enforcer, k kind) map[netip.Prefix]time.Duration {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[netip.Prefix]time.Duration{}
	for _, s := range e.kinds[k].sets.all() {
		els, err := e.conn.GetSetElements(s)
		if err != nil {
			t.Fatalf("GetSetElements(%s): %v", s.Name, err)
		}
		if !s.Interval {
			for _, el := range els {
				a, ok := netip.AddrFromSlice(el.Key)
				if !ok {
					t.Fatalf("element key %x of %s is not an address", el.Key, s.Name)
				}
				out[netip.PrefixFrom(a, a.BitLen())] = el.Timeout
			}
			continue
		}
		for p, d := range elementsToPrefixes(t, els) {
			if p.IsSingleIP() {
				t.Errorf("address %v in interval set %s, want it in the hash set", p, s.Name)
			}
			out[p] = d
		}
	}
	return out
}

func elementsToPrefixes(t testing.TB, els []nftables.SetElement) map[netip.Prefix]time.Duration {
	t.Helper()
	type iv struct {
		a   netip.Addr
		end bool
		ttl time.Duration
	}
	var ivs []iv
	for _, el := range els {
		a, ok := netip.AddrFromSlice(el.Key)
		if !ok {
			t.Fatalf("element key %x is not an address", el.Key)
		}
		ivs = append(ivs, iv{a, el.IntervalEnd, el.Timeout})
	}
	// Ends sort before starts at the same address (touching intervals).
	slices.SortFunc(ivs, func(x, y iv) int {
		if c := x.a.Compare(y.a); c != 0 {
			return c
		}
		if x.end == y.end {
			return 0
		}
		if x.end {
			return -1
		}
		return 1
	})
	out := map[netip.Prefix]time.Duration{}
	for i := 0; i < len(ivs); i++ {
		if ivs[i].end {
			t.Fatalf("interval end %v without a start", ivs[i].a)
		}
		start := ivs[i]
		var last netip.Addr
		if i+1 < len(ivs) && ivs[i+1].end {
			last = ivs[i+1].a.Prev()
			i++
		} else {
			last = lastAddr(netip.PrefixFrom(start.a, 0))
		}
		p, ok := rangeToPrefix(start.a, last)
		if !ok {
			t.Fatalf("interval %v-%v is not a prefix", start.a, last)
		}
		out[p] = start.ttl
	}
	return out
}

func rangeToPrefix(a, b netip.Addr) (netip.Prefix, bool) {
	for bits := 0; bits <= a.BitLen(); bits++ {
		p := netip.PrefixFrom(a, bits)
		if p.Masked().Addr() == a && lastAddr(p) == b {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

func pfx(s string) netip.Prefix {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p
	}
	a := netip.MustParseAddr(s)
	return netip.PrefixFrom(a, a.BitLen())
}

func keys(m map[netip.Prefix]time.Duration) []string {
	var out []string
	for p := range m {
		out = append(out, p.String())
	}
	slices.Sort(out)
	return out
}

func TestBlockUnblockKernel(t *testing.T) {
	e, _ := newTestEnforcer(t, Config{})
	ctx := context.Background()
	block := []Entry{
		{Prefix: pfx("198.51.100.7"), TTL: time.Hour},
		{Prefix: pfx("203.0.113.0/24"), TTL: time.Hour},
		{Prefix: pfx("203.0.114.0/24"), TTL: time.Hour}, // touches the one before
		{Prefix: pfx("2001:db8::1"), TTL: time.Hour},
		{Prefix: pfx("2001:db8:1::/48"), TTL: 0},
		{Prefix: pfx("::ffff:192.0.2.1/128"), TTL: time.Hour}, // IPv4-mapped goes to the IPv4 set
		{Prefix: pfx("255.255.255.0/24"), TTL: time.Hour},     // no interval end after the last address
	}
	if err := e.Block(ctx, block); err != nil {
		t.Fatalf("Block: %v", err)
	}
	got := kernelPrefixes(t, e, kindBlock)
	want := []string{"192.0.2.1/32", "198.51.100.7/32", "2001:db8:1::/48", "2001:db8::1/128", "203.0.113.0/24", "203.0.114.0/24", "255.255.255.0/24"}
	if !slices.Equal(keys(got), want) {
		t.Fatalf("kernel after Block = %v, want %v", keys(got), want)
	}
	if d := got[pfx("2001:db8:1::/48")]; d != 0 {
		t.Errorf("timeout of permanent entry = %v, want none", d)
	}
	if d := got[pfx("198.51.100.7")]; d != time.Hour {
		t.Errorf("timeout of 198.51.100.7 = %v, want 1h", d)
	}
	if err := e.Unblock(ctx, []netip.Prefix{pfx("203.0.113.0/24"), pfx("2001:db8::1"), pfx("10.0.0.1")}); err != nil {
		t.Fatalf("Unblock: %v", err)
	}
	got = kernelPrefixes(t, e, kindBlock)
	want = []string{"192.0.2.1/32", "198.51.100.7/32", "2001:db8:1::/48", "203.0.114.0/24", "255.255.255.0/24"}
	if !slices.Equal(keys(got), want) {
		t.Fatalf("kernel after Unblock = %v, want %v", keys(got), want)
	}
}

func TestReblockSetsNewTTL(t *testing.T) {
	e, _ := newTestEnforcer(t, Config{})
	ctx := context.Background()
	p := pfx("198.51.100.9")
	for _, ttl := range []time.Duration{time.Hour, 90 * time.Second, 2 * time.Hour} {
		if err := e.Block(ctx, []Entry{{Prefix: p, TTL: ttl}}); err != nil {
			t.Fatalf("Block(%v, %v): %v", p, ttl, err)
		}
		if got := kernelPrefixes(t, e, kindBlock)[p]; got != ttl {
			t.Errorf("after Block(%v, %v) kernel timeout = %v, want %v", p, ttl, got, ttl)
		}
	}
}

func TestNestedPrefixes(t *testing.T) {
	e, _ := newTestEnforcer(t, Config{})
	ctx := context.Background()
	// The narrow network first, then a wide one that hides it for a short
	// time. The address lives in the hash set beside them throughout.
	if err := e.Block(ctx, []Entry{{Prefix: pfx("10.1.2.0/24"), TTL: time.Hour}, {Prefix: pfx("10.5.5.5"), TTL: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	if err := e.Block(ctx, []Entry{{Prefix: pfx("10.0.0.0/8"), TTL: 1500 * time.Millisecond}, {Prefix: pfx("10.9.9.0/24"), TTL: time.Second}}); err != nil {
		t.Fatalf("Block of a wider prefix: %v", err)
	}
	if got, want := keys(kernelPrefixes(t, e, kindBlock)), []string{"10.0.0.0/8", "10.5.5.5/32"}; !slices.Equal(got, want) {
		t.Fatalf("kernel with nested prefixes = %v, want %v", got, want)
	}
	// When the wide one expires, the longer-lived narrow one must be back;
	// the shorter-lived one expired with it.
	want := []string{"10.1.2.0/24", "10.5.5.5/32"}
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := keys(kernelPrefixes(t, e, kindBlock))
		if slices.Equal(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kernel after the /8 expired = %v, want %v", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Unblocking a wide one puts the narrower ones back at once.
	if err := e.Block(ctx, []Entry{{Prefix: pfx("10.1.0.0/16"), TTL: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(kernelPrefixes(t, e, kindBlock)), []string{"10.1.0.0/16", "10.5.5.5/32"}; !slices.Equal(got, want) {
		t.Fatalf("kernel after Block of the /16 = %v, want %v", got, want)
	}
	if err := e.Unblock(ctx, []netip.Prefix{pfx("10.1.0.0/16")}); err != nil {
		t.Fatal(err)
	}
	if got := keys(kernelPrefixes(t, e, kindBlock)); !slices.Equal(got, want) {
		t.Fatalf("kernel after Unblock of the /16 = %v, want %v", got, want)
	}
}

func TestMillionElementsLand(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the million-element load in -short mode")
	}
	const n = 1_000_000
	e, _ := newTestEnforcer(t, Config{})
	ctx := context.Background()
	entries := make([]Entry, n)
	prefixes := make([]netip.Prefix, n)
	for i := range entries {
		prefixes[i] = netip.PrefixFrom(benchAddr(i), 32)
		entries[i] = Entry{Prefix: prefixes[i], TTL: time.Hour}
	}
	start := time.Now()
	if err := e.Block(ctx, entries); err != nil {
		t.Fatalf("Block(%d entries): %v", n, err)
	}
	load := time.Since(start)
	start = time.Now()
	got, err := e.countPresent(kindBlock, prefixes)
	if err != nil {
		t.Fatalf("counting the prefixes back from the kernel: %v", err)
	}
	t.Logf("loaded %d prefixes in %v (%.0f/s); counted back %d in %v", n, load, float64(n)/load.Seconds(), got, time.Since(start))
	if got != n {
		t.Fatalf("kernel holds %d prefixes after Block of %d, want %d", got, n, n)
	}
}

func closeFD(fd int) { unix.Close(fd) }
