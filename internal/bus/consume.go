package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ConsumeConfig configures a durable consumer of EVENTS.
type ConsumeConfig struct {
	// Durable names the consumer; its position survives restarts. Required.
	Durable string
	// From, if not zero, is the first stream sequence the caller has not handled, from its
	// own durable records: the consumer starts there whatever its own state says. Zero starts
	// after the consumer's acknowledgement floor. A Resumer's Resume takes its place.
	From uint64
	// MaxBytes bounds the bytes of messages handed over in one group (default 32 MiB).
	MaxBytes int
	// MaxWait is the longest a group waits to fill before it is handed over with what it has
	// (default 200ms).
	MaxWait time.Duration
}

// maxGroup bounds the messages of one group, whatever their bytes: alerts are small.
const maxGroup = 4096

// A Handler handles the messages of a stream that a durable consumer delivers to it: every
// stage after the bus (archive, detection, tally, response, incidents) is one, and the bus
// drives their acknowledgements the same way (see ConsumeEvents).
//
// Handle is called with groups of messages, in stream order, by one goroutine at a time. The
// handler owns the messages' data after the call (it may keep it). Returning nil means every
// message of the group is handled durably, wherever the handler keeps what it makes of them:
// the group is then acknowledged. An error means the group is not handled: it is not
// acknowledged, the consumer stops with that error, and the next consumer delivers the group
// again from its first message. A message the handler can never handle (it does not decode)
// is for the handler to log and skip, not an error: an error holds the stream for everyone.
type Handler interface {
	Handle(ctx context.Context, msgs []Msg) error
}

// HandlerFunc is a function that is a Handler.
type HandlerFunc func(ctx context.Context, msgs []Msg) error

// Handle calls f(ctx, msgs).
func (f HandlerFunc) Handle(ctx context.Context, msgs []Msg) error { return f(ctx, msgs) }

// A Resumer is a Handler that keeps its own position in the stream in its own durable records
// (the archive: the last bus sequence it holds). The consumer asks it where to start each time
// it starts, and starts there whatever its own state says, in place of ConsumeConfig.From.
type Resumer interface {
	Handler
	// Resume returns the first stream sequence the handler has not handled; 0 starts after
	// the consumer's acknowledgement floor.
	Resume(ctx context.Context) (uint64, error)
}

// ConsumeEvents follows EVENTS with the durable consumer cfg.Durable and hands h groups of
// messages, in stream order, until ctx is done or h fails.
//
// A group is acknowledged when h returns nil, and only then: the acknowledgement covers every
// message up to the group's last (the consumer acknowledges all below what it acknowledges),
// and ConsumeEvents waits for the server to confirm it. When h returns an error,
// ConsumeEvents returns it without acknowledging, and the next call starts again at the first
// message not acknowledged (or at cfg.From, or where a Resumer resumes): those messages come
// again, in order, immediately. A message may thus be delivered more than once, never
// skipped: h must recognize a batch it has already handled, for instance by its sequence
// number.
//
// Because an acknowledgement covers everything below it, a message the server delivered but
// h never saw would be acknowledged with the next group. That happens: nats.go gives up on a
// fetch a second after its wait on its own clock, and drops what the server sends it after
// that, which the server counts as delivered. ConsumeEvents therefore checks that every
// delivery follows the one before (the consumer's delivery sequence) and that nothing is
// pending after an empty fetch; when one went missing it resets the consumer to the first
// message h has not handled, without acknowledging anything, and reads on from there. At
// start it resets the consumer the same way (JetStream would otherwise redeliver what the
// last run left unacknowledged only after its ack wait, out of order with newer ones). The
// consumer is created if missing and updated if its settings changed, never deleted.
//
// Only one ConsumeEvents may run per durable name at a time.
func (b *Bus) ConsumeEvents(ctx context.Context, cfg ConsumeConfig, h Handler) error {
	return b.consume(ctx, b.events, "events", cfg, h)
}

// ConsumeAlerts follows ALERTS as ConsumeEvents follows EVENTS, with the same guarantees:
// response and incidents each keep their own durable consumer of it.
func (b *Bus) ConsumeAlerts(ctx context.Context, cfg ConsumeConfig, h Handler) error {
	return b.consume(ctx, b.alerts, "alerts", cfg, h)
}

// ConsumeDeadLetters follows DEADLETTER as ConsumeEvents follows EVENTS, with the same
// guarantees: the ingest counts of package tally count dead letters from it.
func (b *Bus) ConsumeDeadLetters(ctx context.Context, cfg ConsumeConfig, h Handler) error {
	return b.consume(ctx, b.dead, "dead letters", cfg, h)
}

// ErrStreamBehind is wrapped by the error of a consumer asked to start past the end of its
// stream: the caller holds messages the stream never had, because the stream was made anew
// (the bus's data deleted, or another NATS) since.
var ErrStreamBehind = errors.New("bus: the stream ends before the position the consumer resumes from")

func (b *Bus) consume(ctx context.Context, stream, what string, cfg ConsumeConfig, h Handler) error {
	if cfg.Durable == "" {
		return fmt.Errorf("consume %s: no durable consumer name", what)
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 32 << 20
	}
	cfg.MaxBytes = max(cfg.MaxBytes, 2*b.MaxPayload())
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 200 * time.Millisecond
	}
	if r, ok := h.(Resumer); ok {
		from, err := r.Resume(ctx)
		if err != nil {
			return fmt.Errorf("consume %s: resume %s: %w", what, cfg.Durable, err)
		}
		cfg.From = from
	}
	log := b.log.With("consumer", cfg.Durable)
	d, err := b.durable(ctx, stream, cfg.Durable)
	if err != nil {
		return fmt.Errorf("consume %s: %w", what, err)
	}
	// next is the first message h has not handled; dseq the delivery sequence of the last
	// delivery seen (a reset numbers deliveries from 1 again).
	next, err := d.reset(ctx, cfg.From)
	if err != nil {
		return fmt.Errorf("consume %s: %w", what, err)
	}
	var dseq uint64
	var msgs []Msg
	var last jetstream.Msg
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch, err := d.c.Fetch(maxGroup, jetstream.FetchMaxBytes(cfg.MaxBytes), jetstream.FetchMaxWait(cfg.MaxWait))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("consume %s: %w", what, err)
		}
		msgs = msgs[:0]
		lost := false
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("consume %s: %w", what, err)
			}
			if md.Sequence.Consumer != dseq+1 {
				lost = true // a delivery went to a fetch nobody reads any more
			}
			dseq = md.Sequence.Consumer
			if lost || md.Sequence.Stream < next {
				continue // after a loss nothing counts; below next: handled already
			}
			subj := m.Subject()
			msgs = append(msgs, Msg{Seq: md.Sequence.Stream, Subject: subj, Tenant: subj[strings.LastIndexByte(subj, '.')+1:],
				Time: md.Timestamp, Data: m.Data()})
			last = m
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("consume %s: %w", what, err)
		}
		if !lost && len(msgs) == 0 {
			// Deliveries still pending when none reached us went to a fetch given up on; if
			// nothing follows them, no gap in the delivery sequence would ever show it.
			info, err := d.c.Info(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("consume %s: %w", what, err)
			}
			lost = info.NumAckPending > 0
		}
		if lost {
			log.Warn("messages were delivered to a fetch that had given up: delivering them again", "from", next)
			if next, err = d.reset(ctx, next); err != nil {
				return fmt.Errorf("consume %s: %w", what, err)
			}
			dseq = 0
			continue
		}
		if len(msgs) == 0 {
			continue
		}
		if err := h.Handle(ctx, msgs); err != nil {
			return err
		}
		// The data is durable with h; a lost acknowledgement only means a redelivery.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err = last.DoubleAck(actx)
		cancel()
		if err != nil {
			return fmt.Errorf("consume %s: acknowledge %d: %w", what, msgs[len(msgs)-1].Seq, err)
		}
		next = msgs[len(msgs)-1].Seq + 1
	}
}

// durableConsumer is a durable consumer and its stream.
type durableConsumer struct {
	s    jetstream.Stream
	c    jetstream.Consumer
	name string
}

// durable returns the durable consumer name on stream, created if missing, its settings
// updated if they differ. Consumers are never deleted: their state is the position of stages
// that keep no other (detection, response).
//
// An earlier omamori recreated its consumers at every start with DeliverByStartSequence at
// their acknowledgement floor. JetStream cannot change a consumer's deliver policy or start
// sequence, and need not: such a consumer keeps them, and can still be reset to any sequence
// from its start on, which is all the earlier floor allowed anyway.
func (b *Bus) durable(ctx context.Context, stream, name string) (*durableConsumer, error) {
	s, err := b.js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	cc := jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "omamori " + name + ": acknowledges a batch once it is durable there",
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       5 * time.Minute,
		MaxAckPending: -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	c, err := s.Consumer(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		c, err = s.CreateConsumer(ctx, cc)
	case err != nil:
	default:
		have := c.CachedInfo().Config
		if have.AckPolicy != cc.AckPolicy || have.DeliverSubject != "" || have.FilterSubject != "" || len(have.FilterSubjects) > 0 {
			return nil, fmt.Errorf("consumer %s on %s was not made by omamori (ack policy %v, push or filtered): remove it or rename it", name, stream, have.AckPolicy)
		}
		cc.DeliverPolicy, cc.OptStartSeq, cc.OptStartTime = have.DeliverPolicy, have.OptStartSeq, have.OptStartTime
		c, err = s.UpdateConsumer(ctx, cc)
	}
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", name, stream, err)
	}
	return &durableConsumer{s: s, c: c, name: name}, nil
}

// reset makes the consumer deliver from stream sequence seq, or from the first message after
// its acknowledgement floor when seq is 0, forgetting what it had delivered and not had
// acknowledged; it returns the sequence it delivers from. A reset to seq also acknowledges
// everything below seq.
func (d *durableConsumer) reset(ctx context.Context, seq uint64) (uint64, error) {
	if seq > 1 {
		info, err := d.s.Info(ctx)
		if err != nil {
			return 0, fmt.Errorf("reset consumer %s: %w", d.name, err)
		}
		if last := info.State.LastSeq; seq > last+1 {
			return 0, fmt.Errorf("reset consumer %s to %d: %w (%s ends at %d)", d.name, seq, ErrStreamBehind, info.Config.Name, last)
		}
	}
	var r *jetstream.ConsumerResetResponse
	var err error
	if seq == 0 {
		r, err = d.s.ResetConsumer(ctx, d.name)
	} else {
		r, err = d.s.ResetConsumerToSequence(ctx, d.name, seq)
	}
	if errors.Is(err, jetstream.ErrConsumerInvalidReset) {
		start := d.c.CachedInfo().Config.OptStartSeq
		return 0, fmt.Errorf("reset consumer %s to %d: it was made by an earlier omamori to start at %d and cannot go back (remove it to read from %d): %w",
			d.name, seq, start, seq, err)
	}
	if err != nil {
		return 0, fmt.Errorf("reset consumer %s: %w", d.name, err)
	}
	return r.ResetSeq, nil
}

// Dropped returns how many messages EVENTS no longer holds that the durable consumer name had
// not acknowledged: removed by the stream's limits (Config.MaxAge, MaxBytes) before the
// consumer read them. A consumer that does not exist yet has acknowledged nothing.
func (b *Bus) Dropped(ctx context.Context, name string) (uint64, error) {
	s, err := b.js.Stream(ctx, b.events)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	var floor uint64
	c, err := s.Consumer(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
	case err != nil:
		return 0, err
	default:
		floor = c.CachedInfo().AckFloor.Stream
	}
	if first := info.State.FirstSeq; first > floor+1 {
		return first - floor - 1, nil
	}
	return 0, nil
}

// ConsumerPending returns how many messages of EVENTS the durable consumer name has not yet
// acknowledged, for lag metrics and tests.
func (b *Bus) ConsumerPending(ctx context.Context, name string) (uint64, error) {
	return b.pending(ctx, b.events, name)
}

// AlertsPending returns how many alerts the durable consumer name of ALERTS (response's,
// incidents') has not yet acknowledged: zero once it has handled every alert raised so far.
func (b *Bus) AlertsPending(ctx context.Context, name string) (uint64, error) {
	return b.pending(ctx, b.alerts, name)
}

func (b *Bus) pending(ctx context.Context, stream, name string) (uint64, error) {
	s, err := b.js.Stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	// Not found: not yet created.
	c, err := s.Consumer(ctx, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return info.State.Msgs, nil
	}
	if err != nil {
		return 0, err
	}
	ci, err := c.Info(ctx)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return info.State.Msgs, nil
	}
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq - ci.AckFloor.Stream, nil
}
