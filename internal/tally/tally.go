// Package tally counts what arrived: per tenant, hour, source and dataset, the events on the
// bus and the records that went to the dead letters. It follows the EVENTS and DEADLETTER
// streams with durable consumers of its own, beside the archive and detection, and keeps the
// counts in the store, where the dashboard reads events over time and the health of each
// source (a FortiGate that fell silent, a parser that began to fail) without reading the
// stream or the archive.
//
// Counts are exact: each group of messages is added in one transaction with the stream
// position it reaches, so a group the bus delivers again is skipped, and one the store
// did not take is delivered again.
package tally

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/deadletter"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/store"
)

// The durable consumers' names, which are also their marks' names in the store.
const (
	EventsConsumer      = "tally-events"
	DeadLettersConsumer = "tally-deadletters"
)

// Keep is how long counts are kept: over a year, so that this month can be set beside the
// same month last year. The events themselves are in the archive for as long as it keeps them.
const Keep = 400 * 24 * time.Hour

// Run counts EVENTS and DEADLETTER into st until ctx is done or either fails. It deletes the
// counts older than Keep when it starts and then daily.
func Run(ctx context.Context, b *bus.Bus, st *store.Store, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "tally")
	pruneOnce(ctx, st, log)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() {
		errc <- follow(ctx, EventsConsumer, b.ConsumeEvents, &counter{st: st, name: EventsConsumer, count: countEvents(log)})
	}()
	go func() {
		errc <- follow(ctx, DeadLettersConsumer, b.ConsumeDeadLetters, &counter{st: st, name: DeadLettersConsumer, count: countDeadLetters(log)})
	}()
	pruned := make(chan struct{})
	go func() {
		defer close(pruned)
		prune(ctx, st, log)
	}()
	err := <-errc
	cancel()
	err = cmp.Or(err, <-errc)
	<-pruned
	return err
}

// prune deletes old counts every day until ctx is done. A failure is logged and tried again
// the next day: counts kept a day too long harm nobody.
func prune(ctx context.Context, st *store.Store, log *slog.Logger) {
	tick := time.NewTicker(24 * time.Hour)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			pruneOnce(ctx, st, log)
		}
	}
}

func pruneOnce(ctx context.Context, st *store.Store, log *slog.Logger) {
	if n, err := st.PruneIngestCounts(ctx, time.Now().Add(-Keep)); err != nil && ctx.Err() == nil {
		log.Warn("old ingest counts not deleted", "err", err)
	} else if n > 0 {
		log.Info("old ingest counts deleted", "rows", n)
	}
}

type consumeFunc func(ctx context.Context, cfg bus.ConsumeConfig, h bus.Handler) error

// follow runs c as the durable consumer name until ctx is done (nil) or c fails.
func follow(ctx context.Context, name string, consume consumeFunc, c *counter) error {
	err := consume(ctx, bus.ConsumeConfig{Durable: name}, c)
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("count %s: %w", name, err)
}

// counter is the bus.Handler that counts one stream into the store, each message past the
// stream position stored under name (its mark) with count, and the mark with the counts.
type counter struct {
	st     *store.Store
	name   string
	count  func(*counts, bus.Msg)
	mark   uint64
	loaded bool // mark is read from the store before the first group
}

func (c *counter) Handle(ctx context.Context, msgs []bus.Msg) error {
	if !c.loaded {
		mark, err := c.st.ConsumerMark(ctx, c.name)
		if err != nil {
			return err
		}
		c.mark, c.loaded = mark, true
	}
	n := counts{}
	last := c.mark
	for _, m := range msgs {
		if m.Seq <= c.mark {
			continue
		}
		c.count(&n, m)
		last = m.Seq
	}
	if last == c.mark {
		return nil
	}
	if err := c.st.AddIngestCounts(ctx, c.name, last, n.list()); err != nil {
		return err
	}
	c.mark = last
	return nil
}

func countEvents(log *slog.Logger) func(*counts, bus.Msg) {
	return func(c *counts, m bus.Msg) {
		err := event.DecodeBatch(m.Data, func(e *event.Event) error {
			c.add(m.Tenant, e.Received, e.Source, e.Dataset, 1, 0)
			return nil
		})
		if err != nil {
			// The archive keeps such a batch as one record of this dataset; count it the same.
			log.Error("a batch on the bus did not decode", "seq", m.Seq, "tenant", m.Tenant, "err", err)
			c.add(m.Tenant, m.Time, "bus", "omamori.undecodable", 1, 0)
		}
	}
}

func countDeadLetters(log *slog.Logger) func(*counts, bus.Msg) {
	return func(c *counts, m bus.Msg) {
		err := deadletter.DecodeBatch(m.Data, func(r *deadletter.Record) error {
			c.add(m.Tenant, r.Time, r.Source, "", 0, 1)
			return nil
		})
		if err != nil {
			log.Error("a dead-letter batch did not decode", "seq", m.Seq, "tenant", m.Tenant, "err", err)
			c.add(m.Tenant, m.Time, "bus", "", 0, 1)
		}
	}
}

type key struct {
	tenant, source, dataset string
	hour                    time.Time
}

// counts sums one group of messages.
type counts map[key]*store.IngestCount

func (c counts) add(tenant string, received time.Time, source, dataset string, events, dead int64) {
	received = received.UTC()
	k := key{tenant, source, dataset, received.Truncate(time.Hour)}
	n := c[k]
	if n == nil {
		// The strings come from the batch's memory; the count outlives it only until the store
		// has it, which is before the group's data is released, so they are not copied.
		n = &store.IngestCount{Tenant: tenant, Hour: k.hour, Source: source, Dataset: dataset}
		c[k] = n
	}
	n.Events += events
	n.DeadLetters += dead
	if received.After(n.LastSeen) {
		n.LastSeen = received
	}
}

// list returns the counts in a fixed order, so that concurrent writers of the same rows
// (two nodes in the scale-out mode) take their locks in the same order.
func (c counts) list() []store.IngestCount {
	out := make([]store.IngestCount, 0, len(c))
	for _, n := range c {
		out = append(out, *n)
	}
	slices.SortFunc(out, func(a, b store.IngestCount) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), a.Hour.Compare(b.Hour), cmp.Compare(a.Source, b.Source),
			cmp.Compare(a.Dataset, b.Dataset))
	})
	return out
}
