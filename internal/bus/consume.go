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
	// MaxBytes bounds the bytes of messages handed over in one group (default 32 MiB).
	MaxBytes int
	// MaxWait is the longest a group waits to fill before it is handed over with what it has
	// (default 200ms).
	MaxWait time.Duration
}

// ConsumeEvents follows EVENTS with the durable consumer cfg.Durable and calls fn with groups
// of messages, in stream order, until ctx is done or fn fails. fn owns the messages' data.
//
// A group is acknowledged when fn returns nil, and only then: the acknowledgement covers every
// message up to the group's last (the consumer acknowledges all below what it acknowledges),
// and ConsumeEvents waits for the server to confirm it. When fn returns an error,
// ConsumeEvents returns it without acknowledging, and the next call starts again at the first
// message not acknowledged: those messages come again, in order, immediately. (JetStream
// would otherwise redeliver them only after their ack wait, out of order with newer ones; the
// consumer is therefore recreated at its acknowledgement floor each time ConsumeEvents
// starts.) A message may thus be delivered more than once, never skipped: fn must recognize a
// batch it has already handled, for instance by its sequence number.
//
// Only one ConsumeEvents may run per durable name at a time.
func (b *Bus) ConsumeEvents(ctx context.Context, cfg ConsumeConfig, fn func(ctx context.Context, msgs []Msg) error) error {
	return b.consume(ctx, b.events, "events", cfg, fn)
}

// ConsumeAlerts follows ALERTS as ConsumeEvents follows EVENTS, with the same guarantees:
// response and incidents each keep their own durable consumer of it.
func (b *Bus) ConsumeAlerts(ctx context.Context, cfg ConsumeConfig, fn func(ctx context.Context, msgs []Msg) error) error {
	return b.consume(ctx, b.alerts, "alerts", cfg, fn)
}

// ConsumeDeadLetters follows DEADLETTER as ConsumeEvents follows EVENTS, with the same
// guarantees: the ingest counts of package tally count dead letters from it.
func (b *Bus) ConsumeDeadLetters(ctx context.Context, cfg ConsumeConfig, fn func(ctx context.Context, msgs []Msg) error) error {
	return b.consume(ctx, b.dead, "dead letters", cfg, fn)
}

func (b *Bus) consume(ctx context.Context, stream, what string, cfg ConsumeConfig, fn func(ctx context.Context, msgs []Msg) error) error {
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
	c, err := b.durable(ctx, stream, cfg.Durable)
	if err != nil {
		return fmt.Errorf("consume %s: %w", what, err)
	}
	var msgs []Msg
	var last jetstream.Msg
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch, err := c.FetchBytes(cfg.MaxBytes, jetstream.FetchMaxWait(cfg.MaxWait))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("consume %s: %w", what, err)
		}
		msgs = msgs[:0]
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("consume %s: %w", what, err)
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
		if len(msgs) == 0 {
			continue
		}
		if err := fn(ctx, msgs); err != nil {
			return err
		}
		// The data is durable with fn; a lost acknowledgement only means a redelivery.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err = last.DoubleAck(actx)
		cancel()
		if err != nil {
			return fmt.Errorf("consume %s: acknowledge %d: %w", what, msgs[len(msgs)-1].Seq, err)
		}
	}
}

// durable returns the durable consumer name on stream, recreated to start at the first message
// it has not acknowledged.
func (b *Bus) durable(ctx context.Context, stream, name string) (jetstream.Consumer, error) {
	s, err := b.js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	start := uint64(1)
	if c, err := s.Consumer(ctx, name); err == nil {
		info, err := c.Info(ctx)
		if err != nil {
			return nil, err
		}
		start = info.AckFloor.Stream + 1
		if err := s.DeleteConsumer(ctx, name); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
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
	if start > 1 {
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, start
	}
	return s.CreateConsumer(ctx, cc)
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
	// Not found: not yet created, or being re-created by durable at this moment.
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
