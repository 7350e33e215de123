package bus

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestConsumeEventsAcksAfterFnAndRedeliversInOrder(t *testing.T) {
	forEachBus(t, func(t *testing.T, b *Bus) {
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		for i := range 20 {
			if err := b.PublishEvents(ctx, "clinic-a", []byte(fmt.Sprintf("batch %d", i))); err != nil {
				t.Fatal(err)
			}
		}
		cfg := ConsumeConfig{Durable: "test", MaxBytes: 1, MaxWait: 50 * time.Millisecond}
		errStop := errors.New("stop")
		var seen []string
		// First run: handle until batch 7, then fail: nothing of the failing group is acked.
		err := b.ConsumeEvents(ctx, cfg, func(ctx context.Context, msgs []Msg) error {
			for _, m := range msgs {
				if string(m.Data) == "batch 7" {
					return errStop
				}
				seen = append(seen, string(m.Data))
			}
			return nil
		})
		if !errors.Is(err, errStop) {
			t.Fatalf("ConsumeEvents = %v, want %v", err, errStop)
		}
		pending, err := b.ConsumerPending(ctx, "test")
		if err != nil {
			t.Fatal(err)
		}
		// Groups are cut by bytes: what was acked is a prefix that ends before batch 7.
		acked := 20 - int(pending)
		if acked > 7 || acked > len(seen) {
			t.Fatalf("after a failure %d messages are acknowledged, want at most %d", acked, min(7, len(seen)))
		}
		// Second run: starts at the first unacknowledged message at once, in order.
		var again []string
		runCtx, stop := context.WithCancel(ctx)
		err = b.ConsumeEvents(runCtx, cfg, func(ctx context.Context, msgs []Msg) error {
			for _, m := range msgs {
				if m.Tenant != "clinic-a" {
					t.Errorf("message %d tenant = %q, want clinic-a", m.Seq, m.Tenant)
				}
				again = append(again, string(m.Data))
			}
			if len(again) >= 20-acked {
				stop()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("ConsumeEvents = %v, want %v", err, context.Canceled)
		}
		for i, s := range again {
			if want := fmt.Sprintf("batch %d", acked+i); s != want {
				t.Fatalf("redelivered message %d = %q, want %q", i, s, want)
			}
		}
		if len(again) != 20-acked {
			t.Fatalf("redelivered %d messages, want %d", len(again), 20-acked)
		}
		if p, err := b.ConsumerPending(ctx, "test"); err != nil || p != 0 {
			t.Errorf("ConsumerPending after all were handled = %d, %v; want 0", p, err)
		}
	})
}

// TestConsumeAlerts: a durable consumer of ALERTS sees every alert once with its tenant, and
// after a restart only what came after its acknowledgement; EVENTS is not mixed in.
func TestConsumeAlerts(t *testing.T) {
	forEachBus(t, func(t *testing.T, b *Bus) {
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		if err := b.PublishEvents(ctx, "clinic-a", []byte("an event batch")); err != nil {
			t.Fatal(err)
		}
		publish := func(tenant, alert string) {
			if err := b.PublishAlert(ctx, tenant, []byte(alert)); err != nil {
				t.Fatal(err)
			}
		}
		publish("clinic-a", "alert 1")
		publish("clinic-b", "alert 2")
		read := func(want int) []string {
			var got []string
			runCtx, stop := context.WithCancel(ctx)
			defer stop()
			err := b.ConsumeAlerts(runCtx, ConsumeConfig{Durable: "incidents", MaxWait: 20 * time.Millisecond}, func(ctx context.Context, msgs []Msg) error {
				for _, m := range msgs {
					got = append(got, m.Tenant+": "+string(m.Data))
				}
				if len(got) >= want {
					stop()
				}
				return nil
			})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("ConsumeAlerts = %v", err)
			}
			return got
		}
		if got := read(2); fmt.Sprint(got) != "[clinic-a: alert 1 clinic-b: alert 2]" {
			t.Errorf("first run = %q", got)
		}
		publish("clinic-a", "alert 3")
		if got := read(1); fmt.Sprint(got) != "[clinic-a: alert 3]" {
			t.Errorf("after a restart = %q, want only the new alert", got)
		}
	})
}
