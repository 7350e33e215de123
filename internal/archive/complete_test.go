package archive

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/event"
)

// completeBus publishes 14 batches of 100 events: bus messages 3, 6, 9 and 12 are clinic-b's,
// 13 is clinic-b's and does not decode (one record), the others clinic-a's.
func completeBus(t *testing.T) *bus.Bus {
	t.Helper()
	ctx := t.Context()
	b, err := bus.Open(ctx, bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	events := sample(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log", "clinic-a")
	for seq := 1; seq <= 14; seq++ {
		tenant, data := "clinic-a", event.AppendBatch(nil, events[(seq-1)*100:seq*100])
		switch {
		case seq == 13:
			tenant, data = "clinic-b", []byte("not a batch")
		case seq%3 == 0:
			tenant = "clinic-b"
		}
		if err := b.PublishEvents(ctx, tenant, data); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// archiveBus archives the messages of b up to 13 as Handle does, but for those skip names,
// and then extra, and returns the archive opened read-only as verify opens it.
func archiveBus(t *testing.T, b *bus.Bus, skip map[uint64]bool, extra func(*Archive)) *Archive {
	t.Helper()
	ctx := t.Context()
	dir, keys := t.TempDir(), testKeys(t)
	a := openTest(t, dir, keys)
	err := b.ReadEvents(ctx, func(m bus.Msg) error {
		if m.Seq > 13 || skip[m.Seq] {
			return nil
		}
		if err := a.AppendBatch(ctx, m.Tenant, m.Seq, m.Data); err != nil {
			return err
		}
		return a.Sync(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	if extra != nil {
		extra(a)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	ro := openTest(t, dir, keys, func(o *Options) { o.ReadOnly = true })
	t.Cleanup(func() { ro.Close() })
	return ro
}

func TestCompleteFindsWhatTheArchiveMisses(t *testing.T) {
	b := completeBus(t)
	for _, tc := range []struct {
		name     string
		skip     []uint64
		extra    func(*Archive)
		gaps     []Gap
		problems int
	}{
		{name: "all archived"},
		{name: "first group lost", skip: []uint64{1, 2, 3}, gaps: []Gap{
			{Tenant: "clinic-a", First: 1, Last: 2, Batches: 2, Records: 200},
			{Tenant: "clinic-b", First: 3, Last: 3, Batches: 1, Records: 100},
		}},
		{name: "batches removed here and there", skip: []uint64{4, 5, 9, 11}, gaps: []Gap{
			{Tenant: "clinic-a", First: 4, Last: 5, Batches: 2, Records: 200},
			{Tenant: "clinic-a", First: 11, Last: 11, Batches: 1, Records: 100},
			{Tenant: "clinic-b", First: 9, Last: 9, Batches: 1, Records: 100},
		}},
		// 13 was the last archived: without it the archive's position is 12, and the rest is
		// pending, not missing.
		{name: "last batch removed", skip: []uint64{13}},
		{name: "a mark past the bus", extra: func(a *Archive) {
			if err := a.Append(t.Context(), "clinic-c", 100, sample(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log", "clinic-c")[:5]); err != nil {
				t.Fatal(err)
			}
		}, problems: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			skip := map[uint64]bool{}
			for _, s := range tc.skip {
				skip[s] = true
			}
			a := archiveBus(t, b, skip, tc.extra)
			c, err := Complete(t.Context(), a, b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.gaps, c.Gaps); diff != "" {
				t.Errorf("Complete gaps (-want +got):\n%s", diff)
			}
			if len(c.Problems) != tc.problems {
				t.Errorf("Complete problems = %q, want %d", c.Problems, tc.problems)
			}
			if ok := len(tc.gaps) == 0 && tc.problems == 0; c.OK() != ok {
				t.Errorf("Complete OK = %v, want %v", c.OK(), ok)
			}
			if c.First != 1 || c.Last != 14 || c.Messages != 14 {
				t.Errorf("Complete saw EVENTS %d-%d (%d messages), want 1-14 (14)", c.First, c.Last, c.Messages)
			}
			if tc.problems == 0 && c.Checked+c.Pending != 14 {
				t.Errorf("Complete checked %d and left %d pending, want 14 in all", c.Checked, c.Pending)
			}
		})
	}
}

// TestConsumeStartsAfterItsOwnMark: the archive's consumer starts after the last bus
// message the archive holds, even when the bus's consumer state says more was handled (an
// acknowledgement that covered what was never archived: how batches 1-7 went missing).
func TestConsumeStartsAfterItsOwnMark(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	b := completeBus(t)
	dir, keys := t.TempDir(), testKeys(t)
	a := openTest(t, dir, keys)
	defer a.Close()
	// The archive holds 1-5; the consumer acknowledges everything without archiving it.
	if err := b.ReadEvents(ctx, func(m bus.Msg) error {
		if m.Seq > 5 {
			return nil
		}
		if err := a.AppendBatch(ctx, m.Tenant, m.Seq, m.Data); err != nil {
			return err
		}
		return a.Sync(ctx)
	}); err != nil {
		t.Fatal(err)
	}
	// Acknowledge all of EVENTS on the archive's consumer, archiving nothing.
	ackCtx, stopAck := context.WithCancel(ctx)
	ackDone := make(chan error, 1)
	go func() {
		ackDone <- b.ConsumeEvents(ackCtx, bus.ConsumeConfig{Durable: ConsumerName}, bus.HandlerFunc(func(context.Context, []bus.Msg) error { return nil }))
	}()
	for !acked(ctx, b) {
		time.Sleep(10 * time.Millisecond)
	}
	stopAck()
	if err := <-ackDone; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}

	consumeCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.ConsumeEvents(consumeCtx, bus.ConsumeConfig{Durable: ConsumerName}, a) }()
	for a.Position() < 14 || !acked(ctx, b) {
		select {
		case err := <-done:
			t.Fatalf("Consume = %v before the archive held bus message 14", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Consume = %v, want %v", err, context.Canceled)
	}
	c, err := Complete(ctx, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if !c.OK() || c.Checked != 14 {
		t.Errorf("after Consume, Complete = %+v, want OK with 14 messages checked", c)
	}
	for _, tenant := range []string{"clinic-a", "clinic-b"} {
		n, _ := a.Size(tenant)
		if want := map[string]uint64{"clinic-a": 900, "clinic-b": 401}[tenant]; n != want {
			t.Errorf("tenant %s has %d records, want %d", tenant, n, want)
		}
	}
}

// acked reports whether the archive's consumer has acknowledged everything on EVENTS.
func acked(ctx context.Context, b *bus.Bus) bool {
	p, err := b.ConsumerPending(ctx, ConsumerName)
	return err == nil && p == 0
}

func ExampleGap() {
	fmt.Println(Gap{Tenant: "default", First: 1, Last: 7, Batches: 7, Records: 6975})
	// Output: tenant default: bus messages 1-7 (7 batches, 6975 records) are on EVENTS but not in the archive
}
