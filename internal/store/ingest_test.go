package store

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestIngestCounts(t *testing.T) {
	each(t, func(t *testing.T, s *Store, reopen func() *Store) {
		ctx := t.Context()
		h := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
		first := []IngestCount{
			{Tenant: "a", Hour: h.Add(10 * time.Minute), Source: "syslog-udp", Dataset: "fortigate.traffic", Events: 3, LastSeen: h.Add(10 * time.Minute)},
			{Tenant: "a", Hour: h, Source: "syslog-udp", Events: 0, DeadLetters: 2, LastSeen: h.Add(5 * time.Minute)},
			{Tenant: "b", Hour: h, Source: "syslog-udp", Dataset: "fortigate.traffic", Events: 7, LastSeen: h.Add(time.Minute)},
		}
		if err := s.AddIngestCounts(ctx, "tally", 10, first); err != nil {
			t.Fatal(err)
		}
		// The same key again: summed, the later last-seen kept; an earlier one does not move it back.
		if err := s.AddIngestCounts(ctx, "tally", 12, []IngestCount{
			{Tenant: "a", Hour: h.Add(50 * time.Minute), Source: "syslog-udp", Dataset: "fortigate.traffic", Events: 4, LastSeen: h.Add(50 * time.Minute)},
			{Tenant: "a", Hour: h, Source: "syslog-udp", DeadLetters: 1, LastSeen: h.Add(time.Minute)},
			{Tenant: "a", Hour: h.Add(time.Hour), Source: "api", Dataset: "ehr.access", Events: 1, LastSeen: h.Add(61 * time.Minute)},
		}); err != nil {
			t.Fatal(err)
		}
		s = reopen()
		if m, err := s.ConsumerMark(ctx, "tally"); err != nil || m != 12 {
			t.Errorf("ConsumerMark(tally) = %d, %v; want 12", m, err)
		}
		if m, err := s.ConsumerMark(ctx, "other"); err != nil || m != 0 {
			t.Errorf("ConsumerMark(other) = %d, %v; want 0", m, err)
		}
		got, err := s.Tenant("a").IngestCounts(ctx, h.Add(30*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		want := []IngestCount{
			{Tenant: "a", Hour: h, Source: "syslog-udp", DeadLetters: 3, LastSeen: h.Add(5 * time.Minute)},
			{Tenant: "a", Hour: h, Source: "syslog-udp", Dataset: "fortigate.traffic", Events: 7, LastSeen: h.Add(50 * time.Minute)},
			{Tenant: "a", Hour: h.Add(time.Hour), Source: "api", Dataset: "ehr.access", Events: 1, LastSeen: h.Add(61 * time.Minute)},
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("IngestCounts(a) (-want +got):\n%s", d)
		}
		if got, err := s.Tenant("a").IngestCounts(ctx, h.Add(time.Hour)); err != nil || len(got) != 1 {
			t.Errorf("IngestCounts(a, the second hour) = %v, %v; want the one count of that hour", got, err)
		}
		if got, _ := s.Tenant("c").IngestCounts(ctx, h); len(got) != 0 {
			t.Errorf("IngestCounts(c) = %v; want none: another tenant's counts", got)
		}
		// Pruning the first hour leaves the second, of every tenant.
		if n, err := s.PruneIngestCounts(ctx, h.Add(time.Hour+time.Minute)); err != nil || n != 3 {
			t.Errorf("PruneIngestCounts = %d, %v; want the 3 rows of the first hour", n, err)
		}
		if got, _ := s.Tenant("a").IngestCounts(ctx, time.Time{}); len(got) != 1 || got[0].Dataset != "ehr.access" {
			t.Errorf("after pruning: %+v; want the second hour's count", got)
		}
	})
}
