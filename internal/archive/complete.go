package archive

import (
	"context"
	"fmt"
	"slices"

	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/event"
)

// Completeness is what Complete found comparing the archive with the EVENTS stream.
type Completeness struct {
	// First and Last are the sequences of the oldest and newest messages on EVENTS (First is
	// Last+1 when it is empty); Messages how many it holds.
	First, Last uint64
	Messages    int
	// Position is the last bus sequence the archive holds: every message of EVENTS at or
	// below it must be in the archive.
	Position uint64
	// Checked counts the messages at or below Position that were compared.
	Checked int
	// Pending counts the messages after Position, not archived yet (the archive follows the
	// bus; a running server archives them within moments), and the records they make.
	Pending        int
	PendingRecords uint64
	// Gaps are the messages on EVENTS the archive should hold and does not.
	Gaps []Gap
	// Problems are bus marks of the archive that do not fit EVENTS: a mark past its end, or
	// naming a message that is not the tenant's.
	Problems []Problem
	// Tenants are the tenants compared, sorted: those with messages on EVENTS or a log.
	Tenants []string
}

// OK reports whether every message the archive should hold is there.
func (c *Completeness) OK() bool { return len(c.Gaps) == 0 && len(c.Problems) == 0 }

// Only returns what c found of tenant: its gaps and problems, and the gaps of messages the
// bus dropped unread, whose tenants nobody knows. The counts stay those of the whole stream.
func (c *Completeness) Only(tenant string) *Completeness {
	o := *c
	o.Gaps, o.Problems, o.Tenants = nil, nil, []string{tenant}
	for _, g := range c.Gaps {
		if g.Tenant == tenant || g.Dropped {
			o.Gaps = append(o.Gaps, g)
		}
	}
	for _, p := range c.Problems {
		if p.Tenant == tenant {
			o.Problems = append(o.Problems, p)
		}
	}
	return &o
}

// markProblem is a Problem of tenant's bus marks, which have no place in a segment.
func markProblem(tenant, format string, args ...any) Problem {
	return Problem{Tenant: tenant, Block: -1, Record: -1, Offset: -1, Message: fmt.Sprintf(format, args...)}
}

// Gap is a run of one tenant's messages on EVENTS that the archive does not hold, or, when
// Archived is not zero, holds a different number of records for.
type Gap struct {
	Tenant      string
	First, Last uint64 // bus sequences, inclusive
	Batches     int    // the tenant's messages in the run
	Records     uint64 // the records they make
	Mismatch    bool   // the archive holds records for the run, but not as many as the bus
	Archived    uint64 // for a Mismatch, the records the archive holds for the run
	// Dropped says the bus dropped the run (by bus.max_age or bus.max_bytes) after the
	// archive's position, before the archive read it: its tenants and records are unknown.
	Dropped bool
}

func (g Gap) String() string {
	if g.Dropped {
		return fmt.Sprintf("bus messages %d-%d (%d messages) were dropped by the bus before the archive read them: they are in no archive",
			g.First, g.Last, g.Batches)
	}
	if g.Mismatch {
		return fmt.Sprintf("tenant %s: bus messages %d-%d (%d batches, %d records) are in the archive as %d records",
			g.Tenant, g.First, g.Last, g.Batches, g.Records, g.Archived)
	}
	return fmt.Sprintf("tenant %s: bus messages %d-%d (%d batches, %d records) are on EVENTS but not in the archive",
		g.Tenant, g.First, g.Last, g.Batches, g.Records)
}

// busBatch is one message of EVENTS: its sequence and the records the archive makes of it.
type busBatch struct {
	seq, records uint64
}

// boundary is the end of a bus batch in a tenant's log: the blocks since the previous
// boundary hold records records, and end with the batch mark. known says the previous
// boundary is the tenant's one before (no retention deletion or start of the log between).
// carry counts, for logs written before a batch could go on across segments, the records of
// a block without a mark that ended the segment before the boundary's first block: there a
// segment that filled up inside a batch ended with such a block, so it may be the batch's
// first part (compare tries the run with and without it).
type boundary struct {
	prev, mark, records, carry uint64
	known                      bool
}

// Complete compares the bus marks of the archive with the EVENTS stream: every message still
// on EVENTS at or below the archive's Position must be in the tenant's log, as many records
// as the batch holds. Each bus batch ends a block whose header carries its sequence (see
// append), so the check reads block headers and the stream, not the records. Logs written
// before batches had blocks of their own share blocks between batches; there a run of
// batches is compared as a whole.
//
// Complete reads what the archive has synced and the whole stream; it returns an error only
// when it cannot read them.
func Complete(ctx context.Context, a *Archive, b *bus.Bus) (*Completeness, error) {
	st, err := b.EventsState(ctx)
	if err != nil {
		return nil, fmt.Errorf("compare the archive with the bus: %w", err)
	}
	c := &Completeness{First: st.First, Last: st.Last}
	onBus := map[string][]busBatch{}
	err = b.ReadEvents(ctx, func(m bus.Msg) error {
		if m.Seq > st.Last {
			return nil // published since the state was read
		}
		if c.Messages == 0 {
			c.First = m.Seq // older ones may have left EVENTS since
		}
		c.Messages++
		onBus[m.Tenant] = append(onBus[m.Tenant], busBatch{m.Seq, batchRecords(m.Data)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("compare the archive with the bus: %w", err)
	}
	if c.Messages == 0 {
		c.First = c.Last + 1
	}
	logs := a.boundaries()
	for _, bs := range logs {
		for _, bd := range bs {
			if bd.mark <= c.Last { // a mark past the end is a problem, not a position
				c.Position = max(c.Position, bd.mark)
			}
		}
	}
	tenants := slices.Sorted(func(yield func(string) bool) {
		for t := range onBus {
			if !yield(t) {
				return
			}
		}
		for t := range logs {
			if _, ok := onBus[t]; !ok && !yield(t) {
				return
			}
		}
	})
	// The stream's first message follows the archive's position, unless the bus dropped
	// messages the archive never read. (st.First, read before the messages: those that left
	// EVENTS while it was read may have been archived since the archive was opened.)
	if st.First > c.Position+1 {
		c.Gaps = append(c.Gaps, Gap{First: c.Position + 1, Last: st.First - 1, Batches: int(st.First - 1 - c.Position), Dropped: true})
	}
	c.Tenants = tenants
	for _, t := range tenants {
		c.compare(t, onBus[t], logs[t])
	}
	return c, nil
}

// compare checks one tenant's messages on the bus against the boundaries of its log.
func (c *Completeness) compare(tenant string, msgs []busBatch, bounds []boundary) {
	var missing []busBatch // a run of messages not archived, reported when it ends
	flush := func() {
		if len(missing) == 0 {
			return
		}
		g := Gap{Tenant: tenant, First: missing[0].seq, Last: missing[len(missing)-1].seq, Batches: len(missing)}
		for _, m := range missing {
			g.Records += m.records
		}
		c.Gaps = append(c.Gaps, g)
		missing = missing[:0]
	}
	i := 0 // msgs[i:] are after the boundaries compared so far
	for _, bd := range bounds {
		if bd.mark > c.Last {
			c.Problems = append(c.Problems, markProblem(tenant, "the archive holds bus message %d, but EVENTS ends at %d: the bus is not the one this archive followed", bd.mark, c.Last))
			continue
		}
		j := i
		for j < len(msgs) && msgs[j].seq <= bd.mark {
			j++
		}
		run := msgs[i:j]
		i = j
		if bd.mark < c.First {
			continue // gone from EVENTS: nothing to compare with
		}
		c.Checked += len(run)
		var last *busBatch
		if len(run) > 0 && run[len(run)-1].seq == bd.mark {
			last = &run[len(run)-1]
		}
		if last == nil {
			flush()
			c.Problems = append(c.Problems, markProblem(tenant, "the archive holds bus message %d, which is not on EVENTS as a message of this tenant", bd.mark))
			continue
		}
		var all uint64
		for _, m := range run {
			all += m.records
		}
		whole := bd.known && bd.prev+1 >= c.First // every message of the run is still on EVENTS
		switch {
		case (bd.records == all || bd.records+bd.carry == all) && whole:
			flush()
		case bd.records == last.records || bd.records+bd.carry == last.records:
			// The batch that ends the boundary is there, alone: those before it are not.
			for _, m := range run[:len(run)-1] {
				if m.records > 0 {
					missing = append(missing, m)
				}
			}
			flush()
		case whole:
			flush()
			c.Gaps = append(c.Gaps, Gap{Tenant: tenant, First: run[0].seq, Last: bd.mark, Batches: len(run),
				Records: all, Archived: bd.records, Mismatch: true})
		default:
			flush() // part of the run left EVENTS and its records are more than the last batch's: nothing to tell
		}
	}
	for _, m := range msgs[i:] {
		if m.seq > c.Position {
			c.Pending++
			c.PendingRecords += m.records
			continue
		}
		c.Checked++
		if m.records > 0 {
			missing = append(missing, m)
		}
	}
	flush()
}

// batchRecords returns how many records AppendBatch makes of batch: its events, and one
// more for the rest of a batch that does not decode.
func batchRecords(batch []byte) uint64 {
	var n uint64
	if err := event.DecodeBatch(batch, func(*event.Event) error { n++; return nil }); err != nil {
		n++
	}
	return n
}

// boundaries returns, for each tenant, the ends of the bus batches in its synced blocks.
func (a *Archive) boundaries() map[string][]boundary {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string][]boundary{}
	for name, t := range a.tenants {
		var bs []boundary
		var prev, records, carry, end uint64
		known := true
		for si, s := range t.segs {
			if s.head.First != end {
				known, records, carry = false, 0, 0 // records deleted by retention
			}
			end = s.head.First
			for fi, f := range s.frames {
				if f.Head.First+uint64(f.Head.Count) > t.synced {
					break
				}
				end = f.Head.First + uint64(f.Head.Count)
				records += uint64(f.Head.Count)
				if f.Head.Mark&continued != 0 {
					continue
				}
				if f.Head.Mark == 0 {
					// Records of no bus batch (retention's, omamori's own), or, at the end of
					// a segment of an older log, the first part of a batch.
					carry = 0
					if fi == len(s.frames)-1 && si < len(t.segs)-1 {
						carry = records
					}
					records = 0
					continue
				}
				bs = append(bs, boundary{prev: prev, mark: f.Head.Mark, records: records, carry: carry, known: known})
				prev, records, carry, known = f.Head.Mark, 0, 0, true
			}
		}
		out[name] = bs
	}
	return out
}
