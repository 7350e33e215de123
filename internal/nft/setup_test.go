package nft

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/nftables"
)

// snapshot describes the kernel's nftables state in the namespace: tables,
// chains, rules with their handles, and sets.
func snapshot(t *testing.T, ns int) []string {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(ns))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	tables, err := c.ListTables()
	if err != nil {
		t.Fatalf("ListTables: %v", err)
	}
	for _, tb := range tables {
		out = append(out, fmt.Sprintf("table %d %s", tb.Family, tb.Name))
		sets, err := c.GetSets(tb)
		if err != nil {
			t.Fatalf("GetSets: %v", err)
		}
		for _, s := range sets {
			out = append(out, fmt.Sprintf("  set %s interval=%v timeout=%v", s.Name, s.Interval, s.HasTimeout))
		}
	}
	chains, err := c.ListChains()
	if err != nil {
		t.Fatalf("ListChains: %v", err)
	}
	for _, ch := range chains {
		out = append(out, fmt.Sprintf("chain %s %s prio %v", ch.Table.Name, ch.Name, *ch.Priority))
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			t.Fatalf("GetRules: %v", err)
		}
		for _, r := range rules {
			out = append(out, fmt.Sprintf("  rule %d %q", r.Handle, r.UserData))
		}
	}
	slices.Sort(out)
	return out
}

// addForeignTable makes a table that belongs to someone else (the
// hospital's own firewall), which omamori must never touch.
func addForeignTable(t *testing.T, ns int) {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(ns))
	if err != nil {
		t.Fatal(err)
	}
	tb := c.AddTable(&nftables.Table{Name: "hospital", Family: nftables.TableFamilyINet})
	c.AddChain(&nftables.Chain{Name: "input", Table: tb, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter})
	if err := c.AddSet(&nftables.Set{Table: tb, Name: "allowed", KeyType: nftables.TypeIPAddr}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatalf("create foreign table: %v", err)
	}
}

func TestSetupIsIdempotent(t *testing.T) {
	ns, err := NewNetNS()
	if err != nil {
		t.Skipf("skipping: cannot create a network namespace (run as root): %v", err)
	}
	defer closeFD(ns)
	addForeignTable(t, ns)
	foreign := snapshot(t, ns)
	ctx := context.Background()
	cfg := Config{NetNS: ns, Management: []netip.Prefix{netip.MustParsePrefix("10.20.0.5/32"), netip.MustParsePrefix("fd00::/64")}}

	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Setup(ctx); err != nil {
		t.Fatalf("first Setup: %v", err)
	}
	first := snapshot(t, ns)
	if err := e.Setup(ctx); err != nil {
		t.Fatalf("second Setup: %v", err)
	}
	if second := snapshot(t, ns); !slices.Equal(first, second) {
		t.Errorf("second Setup changed the kernel:\nbefore %q\nafter  %q", first, second)
	}
	// A restarted omamori (a new Enforcer) finds everything in place too.
	e2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if err := e2.Setup(ctx); err != nil {
		t.Fatalf("Setup after restart: %v", err)
	}
	if again := snapshot(t, ns); !slices.Equal(first, again) {
		t.Errorf("Setup after restart changed the kernel:\nbefore %q\nafter  %q", first, again)
	}
	for _, line := range foreign {
		if !slices.Contains(first, line) {
			t.Errorf("after Setup the foreign %q is gone", line)
		}
	}
	if err := e2.Teardown(ctx); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	if after := snapshot(t, ns); !slices.Equal(after, foreign) {
		t.Errorf("after Teardown = %q, want only the foreign table %q", after, foreign)
	}
	if err := e2.Block(ctx, []Entry{{Prefix: netip.MustParsePrefix("10.0.0.1/32")}}); err != ErrNotSetUp {
		t.Errorf("Block after Teardown = %v, want ErrNotSetUp", err)
	}
}

func TestReconcileAfterRestart(t *testing.T) {
	e, ns := newTestEnforcer(t, Config{})
	ctx := context.Background()
	if err := e.Block(ctx, []Entry{
		{Prefix: pfx("192.0.2.1"), TTL: time.Hour},       // revoked while omamori was down
		{Prefix: pfx("192.0.2.2"), TTL: time.Hour},       // still decided
		{Prefix: pfx("198.51.100.0/24"), TTL: time.Hour}, // revoked
	}); err != nil {
		t.Fatal(err)
	}
	e.Close()

	// omamori restarts: its store says what is in force now.
	r, err := New(Config{NetNS: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Setup(ctx); err != nil {
		t.Fatalf("Setup after restart: %v", err)
	}
	if got, want := keys(kernelPrefixes(t, r, kindBlock)), []string{"192.0.2.1/32", "192.0.2.2/32", "198.51.100.0/24"}; !slices.Equal(got, want) {
		t.Fatalf("after restart, before Reconcile, kernel = %v, want the blocks from before %v", got, want)
	}
	desired := []Entry{
		{Prefix: pfx("192.0.2.2"), TTL: time.Hour},
		{Prefix: pfx("2001:db8::66"), TTL: 30 * time.Minute},
		{Prefix: pfx("203.0.113.0/25"), TTL: time.Hour},   // hidden by the /24 below
		{Prefix: pfx("203.0.113.0/24"), TTL: time.Hour},   //
		{Prefix: pfx("192.0.2.2"), TTL: 2 * time.Hour},    // the same address twice: the longer wins
		{Prefix: pfx("203.0.113.0/24"), TTL: time.Minute}, // shorter duplicate ignored
	}
	if err := r.Reconcile(ctx, desired); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	got := kernelPrefixes(t, r, kindBlock)
	if want := []string{"192.0.2.2/32", "2001:db8::66/128", "203.0.113.0/24"}; !slices.Equal(keys(got), want) {
		t.Fatalf("after Reconcile kernel = %v, want %v", keys(got), want)
	}
	if d := got[pfx("192.0.2.2")]; d < 2*time.Hour-time.Minute || d > 2*time.Hour {
		t.Errorf("timeout of 192.0.2.2 after Reconcile = %v, want about 2h", d)
	}
	snap := snapshot(t, ns)
	for _, line := range snap {
		if slices.Contains([]string{"  set block4_g1 interval=false timeout=true", "  set blocknet4_g1 interval=true timeout=true"}, line) {
			t.Errorf("the first generation's set is still there after Reconcile: %q", line)
		}
	}
	if !slices.Contains(snap, "  set block4_g2 interval=false timeout=true") {
		t.Errorf("no second-generation set after Reconcile: %q", snap)
	}
	// Blocks after Reconcile go into the new generation and nest correctly.
	if err := r.Block(ctx, []Entry{{Prefix: pfx("203.0.113.128/25"), TTL: time.Hour}}); err != nil {
		t.Fatalf("Block after Reconcile: %v", err)
	}
	if err := r.Unblock(ctx, []netip.Prefix{pfx("203.0.113.0/24")}); err != nil {
		t.Fatalf("Unblock after Reconcile: %v", err)
	}
	if got, want := keys(kernelPrefixes(t, r, kindBlock)), []string{"192.0.2.2/32", "2001:db8::66/128", "203.0.113.0/25", "203.0.113.128/25"}; !slices.Equal(got, want) {
		t.Fatalf("after Unblock of the /24 kernel = %v, want its two halves %v", got, want)
	}
	// A second restart with nothing in force empties the sets.
	if err := r.Reconcile(ctx, nil); err != nil {
		t.Fatalf("Reconcile(nil): %v", err)
	}
	if got := kernelPrefixes(t, r, kindBlock); len(got) != 0 {
		t.Fatalf("after Reconcile(nil) kernel = %v, want empty", keys(got))
	}
}

func TestSetupReplacesSetsOfAnotherShape(t *testing.T) {
	ns, err := NewNetNS()
	if err != nil {
		t.Skipf("skipping: cannot create a network namespace (run as root): %v", err)
	}
	defer closeFD(ns)
	// An older omamori kept addresses in an interval set of the same name.
	c, err := nftables.New(nftables.WithNetNSFd(ns))
	if err != nil {
		t.Fatal(err)
	}
	tb := c.AddTable(&nftables.Table{Name: TableName, Family: nftables.TableFamilyINet})
	if err := c.AddSet(&nftables.Set{Table: tb, Name: "block4_g1", KeyType: nftables.TypeIPAddr, Interval: true}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{NetNS: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := e.Setup(context.Background()); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	snap := snapshot(t, ns)
	if slices.Contains(snap, "  set block4_g1 interval=true timeout=false") || !slices.Contains(snap, "  set block4_g2 interval=false timeout=true") {
		t.Errorf("after Setup over a set of another shape: %q, want block4_g2 as a hash set and no block4_g1", snap)
	}
	if err := e.Block(context.Background(), []Entry{{Prefix: pfx("192.0.2.1"), TTL: time.Minute}}); err != nil {
		t.Errorf("Block: %v", err)
	}
}

func TestReconcileCanceledKeepsWhatWasEnforced(t *testing.T) {
	e, ns := newTestEnforcer(t, Config{})
	ctx := context.Background()
	if err := e.Block(ctx, []Entry{{Prefix: pfx("192.0.2.1"), TTL: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, ns)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := e.Reconcile(canceled, []Entry{{Prefix: pfx("192.0.2.9"), TTL: time.Hour}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Reconcile with a canceled context = %v, want context.Canceled", err)
	}
	if after := snapshot(t, ns); !slices.Equal(before, after) {
		t.Errorf("a canceled Reconcile changed the kernel:\nbefore %q\nafter  %q", before, after)
	}
	if got, want := keys(kernelPrefixes(t, e, kindBlock)), []string{"192.0.2.1/32"}; !slices.Equal(got, want) {
		t.Errorf("after a canceled Reconcile kernel = %v, want %v", got, want)
	}
	if err := e.Block(canceled, []Entry{{Prefix: pfx("192.0.2.2"), TTL: time.Hour}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Block with a canceled context = %v, want context.Canceled", err)
	}
}
