package archive

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/event"
)

func TestConsumeArchivesEveryBatchOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	b, err := bus.Open(ctx, bus.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	events := sample(t, "syslog/loghub/OpenSSH/OpenSSH_2k.log", "clinic-a")
	publish := func(evs []event.Event) {
		for i := 0; i < len(evs); i += 250 {
			if err := b.PublishEvents(ctx, "clinic-a", event.AppendBatch(nil, evs[i:min(i+250, len(evs))])); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(events[:1000])
	if err := b.PublishEvents(ctx, "clinic-b", []byte("not a batch")); err != nil {
		t.Fatal(err)
	}

	dir, keys := t.TempDir(), testKeys(t)
	run := func(want uint64) {
		a := openTest(t, dir, keys)
		defer a.Close()
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- b.ConsumeEvents(runCtx, bus.ConsumeConfig{Durable: ConsumerName}, a) }()
		for {
			if n, synced := a.Size("clinic-a"); n == want && synced == want {
				break
			}
			select {
			case err := <-done:
				t.Fatalf("Consume = %v before archiving %d records", err, want)
			case <-time.After(10 * time.Millisecond):
			}
		}
		for {
			if p, err := b.ConsumerPending(ctx, ConsumerName); err == nil && p == 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume = %v, want %v", err, context.Canceled)
		}
	}
	run(1000)
	publish(events[1000:])
	run(uint64(len(events)))

	a := openTest(t, dir, keys)
	defer a.Close()
	if n, _ := a.Size("clinic-b"); n != 1 {
		t.Errorf("undecodable batch: clinic-b has %d records, want 1", n)
	}
	var got int
	if err := a.Records(ctx, "clinic-a", 0, 1<<62, func(r *Record) error {
		if string(r.Event.Raw) != string(events[r.Index].Raw) {
			t.Errorf("record %d = %q, want %q", r.Index, r.Event.Raw, events[r.Index].Raw)
		}
		got++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got != len(events) {
		t.Errorf("archived %d records, want %d", got, len(events))
	}
}
