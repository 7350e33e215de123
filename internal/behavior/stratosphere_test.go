package behavior

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/omamori-project/omamori/internal/event"
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
	n := feedFiles(t, []string{filepath.Join(sharedData(t), "zeek", "stratosphere", "002-zeek-scenario-port-scanning", "conn.log")}, func(e *event.Event) {
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
	feedFiles(b, []string{filepath.Join(sharedData(b), "zeek", "stratosphere", "002-zeek-scenario-port-scanning", "conn.log")}, func(e *event.Event) {
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
	feedFiles(b, ritaFiles(b, filepath.Join(sharedData(b), "zeek", "rita", "test_data", "proxy")), func(e *event.Event) {
		en.Observe(nil, e)
	})
	b.ReportAllocs()
	for b.Loop() {
		en.BeaconScores()
	}
}
