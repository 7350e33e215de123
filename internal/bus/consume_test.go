package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
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
		err := b.ConsumeEvents(ctx, cfg, HandlerFunc(func(ctx context.Context, msgs []Msg) error {
			for _, m := range msgs {
				if string(m.Data) == "batch 7" {
					return errStop
				}
				seen = append(seen, string(m.Data))
			}
			return nil
		}))
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
		err = b.ConsumeEvents(runCtx, cfg, HandlerFunc(func(ctx context.Context, msgs []Msg) error {
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
		}))
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
			err := b.ConsumeAlerts(runCtx, ConsumeConfig{Durable: "incidents", MaxWait: 20 * time.Millisecond}, HandlerFunc(func(ctx context.Context, msgs []Msg) error {
				for _, m := range msgs {
					got = append(got, m.Tenant+": "+string(m.Data))
				}
				if len(got) >= want {
					stop()
				}
				return nil
			}))
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

// consumeAll runs ConsumeEvents with cfg until its consumer has acknowledged everything on
// EVENTS, and returns the sequences fn was given.
func consumeAll(t *testing.T, b *Bus, cfg ConsumeConfig) []uint64 {
	t.Helper()
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var mu sync.Mutex
	var got []uint64
	done := make(chan error, 1)
	go func() {
		done <- b.ConsumeEvents(ctx, cfg, HandlerFunc(func(ctx context.Context, msgs []Msg) error {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range msgs {
				got = append(got, m.Seq)
			}
			return nil
		}))
	}()
	for {
		select {
		case err := <-done:
			t.Fatalf("ConsumeEvents(%+v) = %v before everything was acknowledged", cfg, err)
		case <-time.After(10 * time.Millisecond):
		}
		// Pending counts from the floor, which a reset to From sets: wait for fn to have run
		// since as well when From is given.
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if p, err := b.ConsumerPending(ctx, cfg.Durable); err == nil && p == 0 && (cfg.From == 0 || n > 0) {
			break
		}
	}
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("ConsumeEvents(%+v) = %v, want %v", cfg, err, context.Canceled)
	}
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(got)
}

func seqs(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// TestConsumeEventsKeepsItsConsumer: a restart resumes the same consumer (it is never
// deleted), a consumer an earlier omamori made with a start sequence still serves, and From
// overrides the consumer's floor in both directions.
func TestConsumeEventsKeepsItsConsumer(t *testing.T) {
	forEachBus(t, func(t *testing.T, b *Bus) {
		ctx := t.Context()
		publish := func(n int) {
			for i := range n {
				if err := b.PublishEvents(ctx, "clinic-a", []byte(fmt.Sprintf("batch %d", i))); err != nil {
					t.Fatal(err)
				}
			}
		}
		created := func(name string) time.Time {
			s, err := b.js.Stream(ctx, b.events)
			if err != nil {
				t.Fatal(err)
			}
			c, err := s.Consumer(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			return c.CachedInfo().Created
		}
		publish(5)
		// An earlier omamori's consumer: recreated at its floor with a start sequence.
		s, err := b.js.Stream(ctx, b.events)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "legacy", AckPolicy: jetstream.AckAllPolicy,
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: 3}); err != nil {
			t.Fatal(err)
		}
		cfg := ConsumeConfig{Durable: "test", MaxWait: 20 * time.Millisecond}
		legacy := ConsumeConfig{Durable: "legacy", MaxWait: 20 * time.Millisecond}
		if got := consumeAll(t, b, cfg); !slices.Equal(got, seqs(1, 5)) {
			t.Fatalf("first run got %v, want %v", got, seqs(1, 5))
		}
		if got := consumeAll(t, b, legacy); !slices.Equal(got, seqs(3, 5)) {
			t.Fatalf("legacy consumer got %v, want %v", got, seqs(3, 5))
		}
		first, firstLegacy := created("test"), created("legacy")
		publish(3)
		for _, tc := range []struct {
			name string
			cfg  ConsumeConfig
			want []uint64
		}{
			{"restart", cfg, seqs(6, 8)},
			{"legacy restart", legacy, seqs(6, 8)},
			{"From behind the floor", ConsumeConfig{Durable: "test", From: 2, MaxWait: 20 * time.Millisecond}, seqs(2, 8)},
			{"legacy From at its start", ConsumeConfig{Durable: "legacy", From: 3, MaxWait: 20 * time.Millisecond}, seqs(3, 8)},
		} {
			if got := consumeAll(t, b, tc.cfg); !slices.Equal(got, tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			}
		}
		if c := created("test"); !c.Equal(first) {
			t.Errorf("consumer test was created again at %v (first %v)", c, first)
		}
		if c := created("legacy"); !c.Equal(firstLegacy) {
			t.Errorf("consumer legacy was created again at %v (first %v)", c, firstLegacy)
		}
		// From past the stream's end: the caller holds what this stream never had.
		err = b.ConsumeEvents(ctx, ConsumeConfig{Durable: "test", From: 100}, HandlerFunc(func(context.Context, []Msg) error { return nil }))
		if !errors.Is(err, ErrStreamBehind) {
			t.Errorf("ConsumeEvents From 100 of 8 = %v, want %v", err, ErrStreamBehind)
		}
		// From below a legacy consumer's start cannot be served: said, not skipped.
		err = b.ConsumeEvents(ctx, ConsumeConfig{Durable: "legacy", From: 2}, HandlerFunc(func(context.Context, []Msg) error { return nil }))
		if !errors.Is(err, jetstream.ErrConsumerInvalidReset) {
			t.Errorf("ConsumeEvents legacy From 2 = %v, want %v", err, jetstream.ErrConsumerInvalidReset)
		}
	})
}
