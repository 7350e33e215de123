package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omamori-project/omamori/internal/deadletter"
	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
)

// Publisher is where batches go; *bus.Bus is one. Each call returns once the batch is durable
// (acknowledged by JetStream) or with an error, after which the batch may or may not be stored.
// It is called concurrently, and does not keep batch after it returns.
type Publisher interface {
	PublishEvents(ctx context.Context, tenant string, batch []byte) error
	PublishDeadLetters(ctx context.Context, tenant string, batch []byte) error
}

// Config holds the batching settings shared by all listeners. Zero values take the defaults.
type Config struct {
	// MaxEvents and MaxBytes (of raw records) close a batch; MaxDelay closes one that is not
	// full, so a quiet source's events still leave within MaxDelay.
	MaxEvents int           // default 1000
	MaxBytes  int           // default 1 MiB; keep it under half the bus's maximum payload
	MaxDelay  time.Duration // default 50ms
	// MaxInFlight bounds the batches being published at once, over all streams. When it is
	// reached, streams stop reading (TCP pushes back to the sender) until one is acknowledged.
	MaxInFlight int // default 32
	// MaxRecord is the longest record kept whole; longer ones go to the dead letters with
	// their start (decode.DefaultMaxRecord by default).
	MaxRecord int
	// PublishTimeout bounds one publish, so a stuck bus fails batches instead of hanging
	// connections forever.
	PublishTimeout time.Duration // default 30s
}

func (c Config) withDefaults() Config {
	if c.MaxEvents <= 0 {
		c.MaxEvents = 1000
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 1 << 20
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = 50 * time.Millisecond
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 32
	}
	if c.MaxRecord <= 0 {
		c.MaxRecord = decode.DefaultMaxRecord
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = 30 * time.Second
	}
	return c
}

// Pipeline turns records into batches of events published to the bus. One Pipeline serves
// every listener and HTTP request of a process; each sender gets a Stream. It is safe for
// concurrent use.
type Pipeline struct {
	pub     Publisher
	cfg     Config
	log     *slog.Logger
	m       *metrics
	sem     chan struct{}  // a slot per batch in flight
	pending sync.WaitGroup // publishes in flight, for Close
	// ctx is the context of publishes: it outlives the listeners' contexts, so that a shutdown
	// still delivers what was read, and ends at Close.
	ctx    context.Context
	cancel context.CancelFunc
	bufs   sync.Pool  // *[]byte encoding buffers
	reads  *sync.Pool // the connections' full read buffers (newReadPool)
	lines  sync.Pool  // *bufio.Reader of HTTP bodies (lineReader)
}

// NewPipeline makes a pipeline publishing to pub, with metrics registered on reg (nil: not
// exported) and logs to log (nil: discarded).
func NewPipeline(pub Publisher, cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Pipeline, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Pipeline{pub: pub, cfg: cfg, log: log.With("component", "ingest"), m: m,
		sem: make(chan struct{}, cfg.MaxInFlight), ctx: ctx, cancel: cancel, reads: newReadPool(cfg.MaxRecord)}, nil
}

// Close waits for the batches in flight to be acknowledged, or ctx to end, in which case it
// abandons them (their streams report an error, so their senders are not acknowledged).
// Listeners stop before Close.
func (p *Pipeline) Close(ctx context.Context) error {
	done := make(chan struct{})
	go func() { p.pending.Wait(); close(done) }()
	select {
	case <-done:
		p.cancel()
		return nil
	case <-ctx.Done():
		p.cancel()
		<-done
		return fmt.Errorf("close ingest pipeline: %w", context.Cause(ctx))
	}
}

// Counts are what a stream has had acknowledged.
type Counts struct {
	Accepted    int64 `json:"accepted"`     // events durable in EVENTS
	DeadLetters int64 `json:"dead_letters"` // records durable in DEADLETTER
}

// Stream is the path of one sender's records into the bus: a TCP connection, an HTTP request,
// a UDP socket. Add decodes records into the current batch; full or old batches go to the bus
// in the background, and Wait says when all of them are acknowledged.
//
// A Stream is used by one goroutine at a time, except that its acknowledgements arrive from
// others, which is why Wait exists.
//
// A stream's memory follows its traffic: its event slots and the arena of raw records grow as
// records arrive, up to a full batch, and a batch that leaves because it is due rather than
// full takes them along, so a quiet stream (one of a thousand idle devices) holds none.
type Stream struct {
	p      *Pipeline
	tenant string
	source string
	format string
	dec    decode.Decoder
	peer   string // where records come from; see SetPeer

	events  []event.Event // slots of the current batch: events[:n] are decoded
	n       int
	untimed int // events of the current batch whose time is their time of arrival
	dead    []deadletter.Record
	arena   []byte // the raw records of the current batch, which its events point into
	bytes   int
	due     time.Time // when the current batch must go, zero while it is empty

	acks    sync.WaitGroup
	failed  atomic.Pointer[error]
	counts  struct{ accepted, dead atomic.Int64 }
	arenaSz int // capacity for the next arena chunk
}

// Sizes of a stream's arena chunks: a quiet stream's first is small, and each chunk a batch
// fills doubles the next, up to maxArena.
const (
	minArena = 4 << 10
	maxArena = 64 << 10
)

// NewStream starts a stream of records in format (a decode record format) for tenant, coming
// from source (a listener's or token's name, which labels metrics and events).
//
// A stream of a file format (EVTX), which has no record decoder, takes only AddDecoded.
func (p *Pipeline) NewStream(tenant, source, format string, opts decode.Options) (*Stream, error) {
	f, err := decode.Lookup(format)
	if err != nil {
		return nil, fmt.Errorf("new ingest stream: %w", err)
	}
	var dec decode.Decoder
	if f.New != nil {
		dec = f.New(opts)
	}
	return &Stream{p: p, tenant: tenant, source: source, format: format, dec: dec, arenaSz: minArena}, nil
}

// Add decodes one record received at received and adds it to the current batch, or to the
// dead letters when it cannot be decoded. Add copies record. When the batch is full it goes to
// the bus, and Add may block while MaxInFlight batches are in flight.
func (s *Stream) Add(record []byte, received time.Time) {
	e := s.next(record, received)
	s.add(e, s.dec.Decode(e))
}

// AddDecoded adds what a decode.Reader returned, for imports of whole files: e is a decoded
// event when err is nil, and otherwise holds in e.Raw the record that err says could not be
// decoded. AddDecoded copies e but keeps e.Raw, which readers hand over and never change.
func (s *Stream) AddDecoded(e *event.Event, err error) {
	slot := s.slot()
	fields := append(slot.Fields[:0], e.Fields...)
	*slot = *e
	slot.Fields = fields
	slot.Tenant, slot.Source = s.tenant, s.source
	if slot.Received.IsZero() {
		slot.Received = time.Now()
	}
	s.bytes += len(slot.Raw)
	s.add(slot, err)
}

// AddBad adds record to the dead letters without decoding it, for records the framing already
// knows are bad (too long, cut short), with the reason and a detail for a person.
func (s *Stream) AddBad(record []byte, received time.Time, reason decode.Reason, detail string) {
	e := s.next(record, received)
	s.add(e, &decode.Error{Format: s.format, Reason: reason, Detail: detail})
}

// next copies record into the batch's arena and prepares the next event slot for it.
func (s *Stream) next(record []byte, received time.Time) *event.Event {
	if len(s.arena)+len(record) > cap(s.arena) {
		s.arena = make([]byte, 0, max(s.arenaSz, len(record)))
		s.arenaSz = min(2*s.arenaSz, maxArena)
	}
	start := len(s.arena)
	s.arena = append(s.arena, record...)
	raw := s.arena[start:len(s.arena):len(s.arena)]
	s.bytes += len(raw)

	e := s.slot()
	e.Reset()
	e.Raw, e.Received, e.Tenant, e.Source = raw, received, s.tenant, s.source
	return e
}

// slot returns the next free event slot, growing the batch's slots as records arrive.
func (s *Stream) slot() *event.Event {
	if s.n == len(s.events) {
		grown := make([]event.Event, min(max(2*len(s.events), 16), s.p.cfg.MaxEvents))
		copy(grown, s.events)
		s.events = grown
	}
	return &s.events[s.n]
}

func (s *Stream) add(e *event.Event, err error) {
	received := e.Received
	switch {
	case err == nil:
		// Decoders may not know where a record came from; the stream does.
		e.Received, e.Tenant, e.Source = received, s.tenant, s.source
		if s.peer != "" {
			e.Add(keyPeer, s.peer)
		}
		if decode.TimeFromReceipt(e) {
			s.untimed++
		}
		s.n++
	case errors.Is(err, decode.ErrSkip):
	default:
		s.dead = append(s.dead, deadletter.FromError(e, s.format, err))
	}
	if s.due.IsZero() {
		s.due = received.Add(s.p.cfg.MaxDelay)
	}
	if s.n == s.p.cfg.MaxEvents || s.bytes >= s.p.cfg.MaxBytes {
		s.Flush()
	}
}

// keyPeer is ECS's name for the address a log was read from.
var keyPeer = event.K("log.source.address")

// SetPeer says which address the records added from now on come from: a TCP peer, the sender
// of a UDP datagram, an HTTP client. Events keep it as log.source.address, since a syslog header
// may name no host, or a false one.
func (s *Stream) SetPeer(addr string) { s.peer = addr }

// Due returns when the current batch must be flushed, and false when it is empty. Listeners
// use it to set their read deadlines.
func (s *Stream) Due() (time.Time, bool) { return s.due, !s.due.IsZero() }

// FlushIfDue flushes the current batch if its time to leave has come by now: what a listener
// does when its read times out, and what a sender that only writes does on a ticker.
func (s *Stream) FlushIfDue(now time.Time) {
	if due, ok := s.Due(); ok && !now.Before(due) {
		s.Flush()
	}
}

// Flush sends the current batch to the bus, if it holds anything, and starts a new one. It
// blocks while MaxInFlight batches are in flight.
func (s *Stream) Flush() {
	if s.n == 0 && len(s.dead) == 0 {
		s.due = time.Time{}
		return
	}
	p := s.p
	// The slot first, then the encoding buffers: a thousand streams flushing at once wait for
	// slots without holding a buffer each.
	p.sem <- struct{}{}
	var evBuf, dlBuf *[]byte
	if s.n > 0 {
		evBuf = p.buffer()
		*evBuf = event.AppendBatch((*evBuf)[:0], s.events[:s.n])
	}
	if len(s.dead) > 0 {
		dlBuf = p.buffer()
		*dlBuf = deadletter.AppendBatch((*dlBuf)[:0], s.dead)
	}
	n, dead, bytes, untimed := s.n, len(s.dead), s.bytes, s.untimed
	deadReasons := countReasons(s.dead)
	// The events and records are encoded: their slots are free again. The arena is not,
	// since decoders may keep strings of it (decode.Decoder); the next batch gets a new one.
	// A full batch means a busy stream, which keeps its slots for the next; any other batch
	// leaves because it is due or the stream ends, and the stream gives its memory up.
	clear(s.dead)
	s.dead = s.dead[:0]
	if n < p.cfg.MaxEvents && bytes < p.cfg.MaxBytes {
		s.events, s.dead, s.arenaSz = nil, nil, minArena
	}
	s.n, s.bytes, s.untimed, s.due = 0, 0, 0, time.Time{}
	s.arena = nil

	p.pending.Add(1)
	s.acks.Add(1)
	go func() {
		defer func() {
			<-p.sem
			p.pending.Done()
			s.acks.Done()
		}()
		ctx, cancel := context.WithTimeout(p.ctx, p.cfg.PublishTimeout)
		defer cancel()
		start := time.Now()
		err := s.publish(ctx, evBuf, dlBuf)
		p.m.publishSeconds.Observe(time.Since(start).Seconds())
		if err != nil {
			p.m.publishErrors.Inc()
			p.log.Error("publish batch", "source", s.source, "tenant", s.tenant, "events", n, "dead_letters", dead, "err", err)
			s.failed.CompareAndSwap(nil, &err)
			return
		}
		s.counts.accepted.Add(int64(n))
		s.counts.dead.Add(int64(dead))
		p.m.events.WithLabelValues(s.source).Add(float64(n))
		p.m.bytes.WithLabelValues(s.source).Add(float64(bytes))
		if untimed > 0 {
			p.m.untimed.WithLabelValues(s.source).Add(float64(untimed))
		}
		p.m.batches.Inc()
		for r, c := range deadReasons {
			p.m.dead.Add(s.source, r, c)
		}
	}()
}

func (s *Stream) publish(ctx context.Context, evBuf, dlBuf *[]byte) error {
	p := s.p
	if evBuf != nil {
		defer p.bufs.Put(evBuf)
		if err := p.pub.PublishEvents(ctx, s.tenant, *evBuf); err != nil {
			return fmt.Errorf("publish events: %w", err)
		}
	}
	if dlBuf != nil {
		defer p.bufs.Put(dlBuf)
		if err := p.pub.PublishDeadLetters(ctx, s.tenant, *dlBuf); err != nil {
			return fmt.Errorf("publish dead letters: %w", err)
		}
	}
	return nil
}

func countReasons(recs []deadletter.Record) map[decode.Reason]int {
	if len(recs) == 0 {
		return nil
	}
	m := map[decode.Reason]int{}
	for i := range recs {
		m[recs[i].Reason]++
	}
	return m
}

func (p *Pipeline) buffer() *[]byte {
	if b, ok := p.bufs.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 512<<10)
	return &b
}

// Wait flushes the current batch and waits until every batch of the stream is acknowledged or
// has failed, or ctx ends. It returns what was acknowledged and, if any batch failed, the
// first error: then the sender must not be told its records are safe.
func (s *Stream) Wait(ctx context.Context) (Counts, error) {
	s.Flush()
	done := make(chan struct{})
	go func() { s.acks.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return s.Counts(), fmt.Errorf("wait for acknowledgements: %w", context.Cause(ctx))
	}
	if err := s.failed.Load(); err != nil {
		return s.Counts(), *err
	}
	return s.Counts(), nil
}

// Counts returns what has been acknowledged so far.
func (s *Stream) Counts() Counts {
	return Counts{Accepted: s.counts.accepted.Load(), DeadLetters: s.counts.dead.Load()}
}
