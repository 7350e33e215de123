package nft

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkBlockBatch measures putting batches of 10,000 new /32 blocks into
// the kernel; ns/op is per batch and prefixes/s is the rate.
func BenchmarkBlockBatch(b *testing.B) {
	e, _ := newTestEnforcer(b, Config{})
	ctx := context.Background()
	const batch = 10_000
	next := 0
	entries := make([]Entry, batch)
	b.ResetTimer()
	for b.Loop() {
		for i := range entries {
			entries[i] = Entry{Prefix: netip.PrefixFrom(benchAddr(next), 32), TTL: time.Hour}
			next++
		}
		if err := e.Block(ctx, entries); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(next)/b.Elapsed().Seconds(), "prefixes/s")
}

// BenchmarkBlockOne measures one Block call with one new address, the path
// an alert's decision takes, into sets already holding 100,000 prefixes.
func BenchmarkBlockOne(b *testing.B) {
	e, _ := newTestEnforcer(b, Config{})
	ctx := context.Background()
	const preload = 100_000
	entries := make([]Entry, preload)
	for i := range entries {
		entries[i] = Entry{Prefix: netip.PrefixFrom(benchAddr(i), 32), TTL: time.Hour}
	}
	if err := e.Block(ctx, entries); err != nil {
		b.Fatal(err)
	}
	next := preload
	b.ResetTimer()
	for b.Loop() {
		if err := e.Block(ctx, []Entry{{Prefix: netip.PrefixFrom(benchAddr(next), 32), TTL: time.Hour}}); err != nil {
			b.Fatal(err)
		}
		next++
	}
}

func TestBenchSmall(t *testing.T) {
	ns, err := NewNetNS()
	if err != nil {
		t.Skipf("skipping: cannot create a network namespace (run as root): %v", err)
	}
	closeFD(ns)
	r, err := Bench(context.Background(), 5000, 1000, true)
	if err != nil {
		t.Fatalf("Bench(5000, 1000): %v", err)
	}
	if r.Entries != 5000 || r.Counted != 5101 || r.PerSecond <= 0 || r.BlockOne <= 0 {
		t.Errorf("Bench(5000, 1000) = %+v, want 5000 entries, 5101 counted back", r)
	}
	if _, err := Bench(context.Background(), 0, 1000, false); err == nil {
		t.Errorf("Bench(0, 1000) did not fail")
	}
}
