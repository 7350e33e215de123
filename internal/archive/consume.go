package archive

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/event"
)

// ConsumerName is the durable consumer the archive follows EVENTS with.
const ConsumerName = "archive"

// Consume archives every batch of events on the bus, until ctx is done or a write fails. A
// group of bus messages is acknowledged only after Sync: after a crash, the bus delivers again
// what was not acknowledged, and batches the archive already holds (a sequence at or below the
// tenant's Mark) are skipped, so nothing is lost and nothing doubled.
func Consume(ctx context.Context, b *bus.Bus, a *Archive, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "archive")
	return b.ConsumeEvents(ctx, bus.ConsumeConfig{Durable: ConsumerName}, func(ctx context.Context, msgs []bus.Msg) error {
		for _, m := range msgs {
			if m.Seq <= a.Mark(m.Tenant) {
				continue
			}
			if err := a.AppendBatch(ctx, m.Tenant, m.Seq, m.Data); err != nil {
				return fmt.Errorf("archive batch %d of tenant %s: %w", m.Seq, m.Tenant, err)
			}
		}
		return a.Sync(ctx)
	})
}

// AppendBatch appends the events of a batch in the bus encoding (event.AppendBatch), as Append
// does. A batch that does not decode is archived all the same, as one record whose raw bytes
// are the batch, with dataset omamori.undecodable: the archive keeps what it was given.
func (a *Archive) AppendBatch(ctx context.Context, tenant string, mark uint64, batch []byte) error {
	return a.append(tenant, mark, func(t *tenantLog) error {
		var addErr error
		derr := event.DecodeBatch(batch, func(e *event.Event) error {
			addErr = t.add(e)
			return addErr
		})
		if addErr != nil || derr == nil {
			return addErr
		}
		e := event.Event{
			Received: a.opts.Now().UTC(), Tenant: tenant, Source: "bus", Format: "omamori",
			Dataset: "omamori.undecodable", Message: "batch did not decode: " + derr.Error(), Raw: batch,
		}
		return t.add(&e)
	})
}

// SyncEvery syncs the archive every interval until ctx is done, for writers that Append
// without syncing themselves (omamori's own actions).
func (a *Archive) SyncEvery(ctx context.Context, interval time.Duration) {
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
			if err := a.Sync(ctx); err != nil {
				a.log.Error("sync", "err", err)
			}
		}
	}
}
