package archive

import (
	"context"
	"fmt"
	"time"

	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/event"
)

// ConsumerName is the durable consumer the archive follows EVENTS with.
const ConsumerName = "archive"

// The archive resumes from its own records: were Resume's signature to drift from
// bus.Resumer's, the consumer would start after its acknowledgement floor instead.
var _ bus.Resumer = (*Archive)(nil)

// Resume returns where the archive's consumer starts: after Position, the last bus sequence
// it holds, whatever the bus's consumer state says (it could be ahead: an acknowledgement
// that covered more than was archived, an archive restored from a backup). It makes the
// archive a bus.Resumer.
//
// Everything up to Position is archived because Handle archives batches in bus order and
// syncs a group of them at each change of tenant: a crash between two tenants' fsyncs cannot
// leave a later batch on disk and an earlier one lost.
func (a *Archive) Resume(context.Context) (uint64, error) {
	from := a.Position() + 1
	a.log.Info("archiving the bus", "from", from)
	return from, nil
}

// Handle archives a group of EVENTS messages (batches in the bus encoding), in order, and
// syncs before it returns, so that the group is acknowledged only once it is on disk. It
// makes the archive a bus.Handler, which follows EVENTS with the durable consumer
// ConsumerName. Batches the archive already holds (at or below the tenant's Mark) are
// skipped, so nothing is lost and nothing doubled.
func (a *Archive) Handle(ctx context.Context, msgs []bus.Msg) error {
	tenant := ""
	for _, m := range msgs {
		if m.Seq <= a.Mark(m.Tenant) {
			continue
		}
		if tenant != "" && m.Tenant != tenant {
			if err := a.Sync(ctx); err != nil {
				return err
			}
		}
		tenant = m.Tenant
		if err := a.AppendBatch(ctx, m.Tenant, m.Seq, m.Data); err != nil {
			return fmt.Errorf("archive batch %d of tenant %s: %w", m.Seq, m.Tenant, err)
		}
	}
	return a.Sync(ctx)
}

// Position returns the last bus sequence the archive holds, of any tenant (0 if none): the
// highest Mark.
func (a *Archive) Position() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var p uint64
	for _, t := range a.tenants {
		p = max(p, t.mark)
	}
	return p
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
