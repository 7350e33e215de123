package behavior

import (
	"net/netip"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

// A day of ordinary uploads from an internal host, then ten times its usual volume in one
// hour: reported once. A host gone quiet for a whole history is forgotten, which frees its
// place for a new one when the table is full.
func TestExfiltration(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxKeys = 2
	cfg.Exfiltration.MinBytes = 100 << 20
	en, err := New(cfg, Shard{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	up := func(src string, at time.Time, bytes uint64) []Finding {
		e := event.Event{Time: at, Category: "network", SrcIP: netip.MustParseAddr(src),
			DstIP: netip.MustParseAddr("203.0.113.50"), BytesOut: bytes}
		return en.Observe(nil, &e)
	}
	var found []Finding
	for h := range 30 {
		at := t0.Add(time.Duration(h) * time.Hour)
		found = append(found, up("192.168.10.5", at, 20<<20+uint64(h%3)<<20)...)
	}
	if len(found) != 0 {
		t.Fatalf("ordinary uploads reported: %+v", found)
	}
	burst := t0.Add(30 * time.Hour)
	for i := range 10 {
		found = append(found, up("192.168.10.5", burst.Add(time.Duration(i)*time.Minute), 30<<20)...)
	}
	if len(found) != 1 || found[0].Detector != DetectorExfiltration || found[0].Key != "192.168.10.5" {
		t.Fatalf("300 MiB in an hour after a day of ~21 MiB: %+v, want one exfiltration finding", found)
	}

	up("192.168.10.6", burst, 1<<20)
	if up("192.168.10.7", burst, 1<<20); en.Keys()["exfiltration"] != 2 {
		t.Fatalf("keys = %d with a table of 2", en.Keys()["exfiltration"])
	}
	// A week and a day later, with nothing sent since: both are forgotten, and a new host is
	// watched.
	later := burst.Add(time.Duration(cfg.Exfiltration.History+24) * time.Hour)
	en.Expire(later)
	if n := en.Keys()["exfiltration"]; n != 0 {
		t.Errorf("after a silent history, %d hosts kept; want 0", n)
	}
	up("192.168.10.7", later, 1<<20)
	if n := en.Keys()["exfiltration"]; n != 1 {
		t.Errorf("a host after the expiry: %d kept; want 1", n)
	}
	// One that sent within the history is kept.
	en.Expire(later.Add(time.Hour))
	if n := en.Keys()["exfiltration"]; n != 1 {
		t.Errorf("a host that sent an hour ago: %d kept; want 1", n)
	}
}

// Sweep expires state on its own schedule of event time: not at the first call, which starts
// the clock, nor within SweepEvery of the last sweep.
func TestSweep(t *testing.T) {
	en, err := New(DefaultConfig(), Shard{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	e := event.Event{Time: t0, Category: "network", SrcIP: netip.MustParseAddr("192.168.10.5"),
		DstIP: netip.MustParseAddr("203.0.113.50"), BytesOut: 1 << 20}
	en.Observe(nil, &e)
	gone := t0.Add(time.Duration(DefaultConfig().Exfiltration.History+2) * time.Hour)
	for _, c := range []struct {
		at   time.Time
		want int
	}{
		{gone, 1},                               // the first call only starts the clock
		{gone.Add(SweepEvery - time.Second), 1}, // too soon
		{gone.Add(SweepEvery), 0},               // swept: the silent host is forgotten
	} {
		en.Sweep(nil, c.at)
		if n := en.Keys()["exfiltration"]; n != c.want {
			t.Errorf("after Sweep at %v: %d hosts kept, want %d", c.at, n, c.want)
		}
	}
}
