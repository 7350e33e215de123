package tally_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/deadletter"
	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/store"
	"github.com/omamori-project/omamori/internal/tally"
)

var h0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func events(tenant, source, dataset string, start time.Time, n int) []byte {
	es := make([]event.Event, n)
	for i := range es {
		es[i] = event.Event{Tenant: tenant, Source: source, Dataset: dataset, Format: "syslog",
			Received: start.Add(time.Duration(i) * time.Minute), Message: "line"}
	}
	return event.AppendBatch(nil, es)
}

type fixture struct {
	bus   *bus.Bus
	store *store.Store
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	ctx := t.Context()
	b, err := bus.Open(ctx, bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	st, err := store.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "omamori.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return fixture{b, st}
}

// run counts until the tenant's counts from h0 on hold want events and dead letters in total,
// then stops the counter and returns the counts.
func (f fixture) run(t *testing.T, tenant string, wantEvents, wantDead int64) []store.IngestCount {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- tally.Run(ctx, f.bus, f.store, nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v after cancel; want nil", err)
		}
	}()
	for {
		got, err := f.store.Tenant(tenant).IngestCounts(t.Context(), h0)
		if err != nil {
			t.Fatal(err)
		}
		var ev, dl int64
		for _, c := range got {
			ev += c.Events
			dl += c.DeadLetters
		}
		if ev == wantEvents && dl == wantDead {
			return got
		}
		if ev > wantEvents || dl > wantDead {
			t.Fatalf("counted %d events and %d dead letters; want %d and %d", ev, dl, wantEvents, wantDead)
		}
		select {
		case err := <-done:
			t.Fatalf("Run stopped: %v", err)
		case <-t.Context().Done():
			t.Fatalf("still %d events and %d dead letters counted; want %d and %d", ev, dl, wantEvents, wantDead)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestRunCountsEventsAndDeadLetters(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	// 90 FortiGate lines from 09:00 (60 in the 09 hour, 30 in the 10), 5 sshd lines, and
	// another hospital's 7 that must not show in this one's counts.
	for _, p := range []struct {
		tenant string
		batch  []byte
	}{
		{"a", events("a", "syslog-udp", "fortigate.traffic", h0, 90)},
		{"a", events("a", "syslog-tcp", "sshd", h0.Add(30*time.Minute), 5)},
		{"b", events("b", "syslog-udp", "fortigate.traffic", h0, 7)},
	} {
		if err := f.bus.PublishEvents(ctx, p.tenant, p.batch); err != nil {
			t.Fatal(err)
		}
	}
	dl := deadletter.AppendBatch(nil, []deadletter.Record{
		{Time: h0.Add(5 * time.Minute), Tenant: "a", Source: "syslog-udp", Format: "syslog", Reason: decode.ReasonBinary, Raw: []byte{0}},
		{Time: h0.Add(65 * time.Minute), Tenant: "a", Source: "syslog-udp", Format: "syslog", Reason: decode.ReasonTooLong, Raw: []byte("x")},
	})
	if err := f.bus.PublishDeadLetters(ctx, "a", dl); err != nil {
		t.Fatal(err)
	}
	// A count from before Keep, which the counter deletes when it starts.
	old := time.Now().Add(-tally.Keep - 24*time.Hour)
	if err := f.store.AddIngestCounts(ctx, "test", 1, []store.IngestCount{
		{Tenant: "a", Hour: old, Source: "retired-firewall", Dataset: "fortigate.traffic", Events: 1, LastSeen: old}}); err != nil {
		t.Fatal(err)
	}
	got := f.run(t, "a", 95, 2)
	if all, _ := f.store.Tenant("a").IngestCounts(ctx, time.Time{}); len(all) != len(got) {
		t.Errorf("%d counts in all, %d since 09:00; want the one older than Keep deleted", len(all), len(got))
	}
	want := []store.IngestCount{
		{Tenant: "a", Hour: h0, Source: "syslog-tcp", Dataset: "sshd", Events: 5, LastSeen: h0.Add(34 * time.Minute)},
		{Tenant: "a", Hour: h0, Source: "syslog-udp", DeadLetters: 1, LastSeen: h0.Add(5 * time.Minute)},
		{Tenant: "a", Hour: h0, Source: "syslog-udp", Dataset: "fortigate.traffic", Events: 60, LastSeen: h0.Add(59 * time.Minute)},
		{Tenant: "a", Hour: h0.Add(time.Hour), Source: "syslog-udp", DeadLetters: 1, LastSeen: h0.Add(65 * time.Minute)},
		{Tenant: "a", Hour: h0.Add(time.Hour), Source: "syslog-udp", Dataset: "fortigate.traffic", Events: 30, LastSeen: h0.Add(89 * time.Minute)},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("counts of a (-want +got):\n%s", d)
	}

	// Started again, the counter goes on from where it stopped: what it counted is not counted
	// twice, and what came since is counted once.
	if err := f.bus.PublishEvents(ctx, "a", events("a", "api", "ehr.access", h0.Add(2*time.Hour), 3)); err != nil {
		t.Fatal(err)
	}
	got = f.run(t, "a", 98, 2)
	if n := len(got); n != len(want)+1 {
		t.Errorf("after a restart, %d counts; want %d", n, len(want)+1)
	}
}

// A message at or below the stored mark has been counted already (the store took the counts,
// the bus did not hear the acknowledgement): it is skipped, not counted again.
func TestRunSkipsWhatItCounted(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	for range 2 {
		if err := f.bus.PublishEvents(ctx, "a", events("a", "syslog-udp", "sshd", h0, 10)); err != nil {
			t.Fatal(err)
		}
	}
	// As if the first batch (stream sequence 1) had been counted by a counter that then died.
	if err := f.store.AddIngestCounts(ctx, tally.EventsConsumer, 1, []store.IngestCount{
		{Tenant: "a", Hour: h0, Source: "syslog-udp", Dataset: "sshd", Events: 10, LastSeen: h0.Add(9 * time.Minute)},
	}); err != nil {
		t.Fatal(err)
	}
	got := f.run(t, "a", 20, 0)
	if len(got) != 1 || got[0].Events != 20 {
		t.Errorf("counts = %+v; want one of 20 events", got)
	}
}

func TestRunStopsOnStoreFailure(t *testing.T) {
	f := newFixture(t)
	if err := f.bus.PublishEvents(t.Context(), "a", events("a", "syslog-udp", "sshd", h0, 1)); err != nil {
		t.Fatal(err)
	}
	f.store.Close()
	err := tally.Run(t.Context(), f.bus, f.store, nil)
	if err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a closed store = %v; want its error", err)
	}
}

func TestSummarize(t *testing.T) {
	now := h0.Add(2*time.Hour + 30*time.Minute) // 11:30
	counts := []store.IngestCount{
		{Hour: h0.Add(-5 * time.Hour), Source: "old", Dataset: "x", Events: 100, LastSeen: h0.Add(-5 * time.Hour)}, // before the window
		{Hour: h0, Source: "fortigate", Dataset: "fortigate.traffic", Events: 50, LastSeen: h0.Add(50 * time.Minute)},
		{Hour: h0, Source: "fortigate", Dataset: "fortigate.vpn", Events: 5, LastSeen: h0.Add(10 * time.Minute)},
		{Hour: h0.Add(2 * time.Hour), Source: "fortigate", Dataset: "fortigate.traffic", Events: 20, LastSeen: h0.Add(2*time.Hour + 29*time.Minute)},
		{Hour: h0.Add(2 * time.Hour), Source: "fortigate", DeadLetters: 2, LastSeen: h0.Add(2*time.Hour + 1*time.Minute)},
		{Hour: h0, Source: "dc01", Dataset: "windows.security", Events: 7, LastSeen: h0.Add(20 * time.Minute)},
		{Hour: h0.Add(time.Hour), Source: "ehr", Dataset: "ehr.access", Events: 3, LastSeen: h0.Add(90 * time.Minute)},
	}
	got := tally.Summarize(counts, now, 3)
	want := tally.Summary{
		Hours: []tally.Hour{
			{Start: h0, Events: 62},
			{Start: h0.Add(time.Hour), Events: 3},
			{Start: h0.Add(2 * time.Hour), Events: 20, DeadLetters: 2},
		},
		// dc01 has been silent since 09:20, then fortigate has dead letters, then the rest.
		Sources: []tally.Source{
			{Name: "dc01", Datasets: []string{"windows.security"}, Events: 7, LastSeen: h0.Add(20 * time.Minute), Silent: true},
			{Name: "fortigate", Datasets: []string{"fortigate.traffic", "fortigate.vpn"}, Events: 75, DeadLetters: 2,
				LastSeen: h0.Add(2*time.Hour + 29*time.Minute)},
			{Name: "ehr", Datasets: []string{"ehr.access"}, Events: 3, LastSeen: h0.Add(90 * time.Minute)},
		},
		Events: 85, DeadLetters: 2,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Summarize (-want +got):\n%s", d)
	}
}
