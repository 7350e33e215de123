package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestEmbeddedConsumersOfABacklog has six durable consumers, as a node runs (archive,
// detection, the tallies, incidents, response), catch up at once with a backlog of large
// batches on EVENTS. Their pulls all arrive on the node's one in-process connection, and
// nats-server closes a connection whose unread data passes MaxPending: the whole node would
// lose its bus (found with every SigmaHQ rule loaded under load, when the limit was 32 MiB).
func TestEmbeddedConsumersOfABacklog(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes 96 MiB")
	}
	const consumers, batches, size = 6, 24, 4 << 20
	b := openTest(t, Config{DataDir: t.TempDir(), SyncInterval: time.Minute})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	data := make([]byte, size)
	for i := range batches {
		data[0] = byte(i)
		if err := b.PublishEvents(ctx, "hospital-a", data); err != nil {
			t.Fatalf("publish batch %d: %v", i, err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, consumers)
	for c := range consumers {
		wg.Go(func() {
			seen := 0
			cctx, done := context.WithCancel(ctx)
			defer done()
			err := b.ConsumeEvents(cctx, ConsumeConfig{Durable: fmt.Sprintf("backlog-%d", c)}, HandlerFunc(func(_ context.Context, msgs []Msg) error {
				if seen += len(msgs); seen >= batches {
					done()
				}
				return nil
			}))
			if seen < batches || !errors.Is(err, context.Canceled) {
				errs[c] = fmt.Errorf("consumer %d read %d of %d batches: %w", c, seen, batches, err)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if !b.nc.IsConnected() {
		t.Errorf("the in-process connection is %v after the consumers caught up, want connected", b.nc.Status())
	}
}
