package behavior

import (
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/shareddata"
)

// TestPortScanStratosphere runs Stratosphere Laboratory's Nmap capture (one client,
// 172.16.1.11, scanning three networks) through every detector: the scanner is found, and
// nothing else in the capture is called a scan.
func TestPortScanStratosphere(t *testing.T) {
	en, err := New(DefaultConfig(), Shard{})
	if err != nil {
		t.Fatal(err)
	}
	var fs []Finding
	n := feedFiles(t, []string{shareddata.Path(t, "zeek", "stratosphere", "002-zeek-scenario-port-scanning", "conn.log")}, func(e *event.Event) {
		fs = en.Observe(fs, e)
	})
	var scanners []string
	for _, f := range findingsOf(fs, DetectorPortScan) {
		scanners = append(scanners, f.Source.String())
	}
	slices.Sort(scanners)
	scanners = slices.Compact(scanners)
	if !slices.Equal(scanners, []string{"172.16.1.11"}) {
		t.Errorf("port scanners in %d connections = %v, want [172.16.1.11]", n, scanners)
	}
}

// BenchmarkObserve is the per-event cost of every behavioural detector, on the Nmap capture's
// connections (many keys, many findings: a hard case).
func BenchmarkObserve(b *testing.B) {
	var events []event.Event
	feedFiles(b, []string{shareddata.Path(b, "zeek", "stratosphere", "002-zeek-scenario-port-scanning", "conn.log")}, func(e *event.Event) {
		events = append(events, *e)
	})
	b.ReportAllocs()
	var en *Engine
	var fs []Finding
	for i := 0; b.Loop(); i++ {
		if i%len(events) == 0 {
			en, _ = New(DefaultConfig(), Shard{})
		}
		fs = en.Observe(fs[:0], &events[i%len(events)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkBeacons is one beacon sweep over RITA's proxy test set.
func BenchmarkBeacons(b *testing.B) {
	en, _ := New(DefaultConfig(), Shard{})
	feedFiles(b, ritaFiles(b, shareddata.Path(b, "zeek", "rita", "test_data", "proxy")), func(e *event.Event) {
		en.Observe(nil, e)
	})
	b.ReportAllocs()
	for b.Loop() {
		en.BeaconScores()
	}
}

// BenchmarkMillionKeys measures the memory of a million tracked keys: a million sources each
// failing one login and making one connection (auth and flow state per source), as a flood of
// spoofed addresses would: three keys each (auth, flows, beacon pair). It reports heap bytes
// per source, in all, and the keys held.
func BenchmarkMillionKeys(b *testing.B) {
	const keys = 1 << 20
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		en, _ := New(DefaultConfig(), Shard{})
		t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
		login := event.Event{Category: "authentication", Dataset: "fortigate.vpn", Action: "vpn_login", Outcome: event.OutcomeFailure,
			User: "admin", DstIP: netip.MustParseAddr("203.0.113.10"), DstPort: 443}
		conn := event.Event{Category: "network", Dataset: "fortigate.traffic", Action: "traffic", Outcome: event.OutcomeSuccess,
			DstIP: netip.MustParseAddr("192.168.30.10"), DstPort: 445, Protocol: "tcp"}
		var fs []Finding
		for i := range keys {
			src := netip.AddrFrom4([4]byte{198, 18 + byte(i>>16), byte(i >> 8), byte(i)})
			login.Time, login.SrcIP = t0.Add(time.Duration(i)*time.Millisecond), src
			conn.Time, conn.SrcIP = login.Time, src
			fs = en.Observe(fs[:0], &login)
			fs = en.Observe(fs, &conn)
		}
		b.ReportMetric(float64(sumKeys(en.Keys())), "keys")
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap := float64(after.HeapAlloc - before.HeapAlloc)
		b.ReportMetric(heap/keys, "B/source")
		b.ReportMetric(heap/(1<<20), "MiB")
		runtime.KeepAlive(en)
	}
}

func sumKeys(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
