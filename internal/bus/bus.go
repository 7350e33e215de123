// Package bus is omamori's event bus: NATS JetStream, embedded in the process by default with
// its file store under the data directory, or an external NATS cluster at scale. It sits in the
// middle of the data path: ingest publishes batches of events (event.AppendBatch) and dead
// letters to it, and the archive, detection and search read them back. Every stage that
// follows a stream (archive, detection, tally, response, incidents) is a Handler, and a
// durable consumer (ConsumeEvents) drives its acknowledgements the same way for all.
//
// Three streams hold everything:
//
//	EVENTS      subjects events.<tenant>      batches of events, limits retention (age, bytes)
//	DEADLETTER  subjects deadletter.<tenant>  batches of records no decoder understood
//	ALERTS      subjects alerts.<tenant>      one alert (JSON) per message, from detection
//
// # Durability
//
// Publish returns only after JetStream has acknowledged the message (its PubAck). What that
// acknowledgement promises depends on the sync policy, and we read nats-server v2.15.2's
// filestore.go to know exactly:
//
//   - For a stream with one replica, the store writes each message to its block file
//     (msgBlock.writeMsgRecord with flush-in-place, a pwrite of the record and its checksum)
//     before StoreMsg returns, and the stream sends the PubAck only after StoreMsg
//     (stream.processJetStreamMsg). So an acknowledged message is in the operating system's page
//     cache: it survives SIGKILL of omamori, a panic, or an OOM kill, always.
//   - It is on the disk itself only after an fsync. With SyncAlways the store fsyncs the block
//     file after every write, before the PubAck. Otherwise a background timer fsyncs every
//     SyncInterval (nats-server's default: two minutes), so a power cut or kernel panic may lose
//     what was acknowledged in the last interval.
//
// omamori publishes batches of about a thousand events per message, so one fsync serves a
// thousand events, not one. Measured on the 2-core development VM (BenchmarkPublish: batches of
// FortiGate-like events, ~250 bytes each encoded, 8 publishers in flight, embedded server):
//
//	events per batch   SyncAlways          SyncInterval 2m
//	100                132k events/s       574k events/s
//	1000               551k events/s       2.40M events/s
//	4000               1.16M events/s      2.33M events/s
//
// With batches of a thousand or more, fsync on every write still leaves the bus far faster than
// the sockets and decoders in front of it, so the default is SyncAlways: an acknowledged event
// survives a power cut, which is what a hospital that must keep its logs expects.
// Config.SyncInterval trades that for throughput where batches are small or disks slow, and
// then an acknowledged event survives a crash of omamori but not of the machine.
//
// With replicas > 1 on an external cluster, JetStream acknowledges after a quorum has the
// message in its Raft log, and durability comes from replication (see the NATS docs).
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/omamori-project/omamori/internal/tenant"
)

// Stream names and subject roots, before Config.Prefix.
const (
	EventsStream     = "EVENTS"
	DeadLetterStream = "DEADLETTER"
	AlertsStream     = "ALERTS"
	eventsRoot       = "events"
	deadLetterRoot   = "deadletter"
	alertsRoot       = "alerts"
)

// DefaultMaxPayload is the largest message the embedded server accepts. A batch of a thousand
// events of 64 KiB each would exceed it; the ingest batcher splits by bytes too.
const DefaultMaxPayload = 8 << 20

// maxPending bounds the data the embedded server has queued for a client that has not read
// it yet, past which nats-server closes the connection as a slow consumer. A node's one
// in-process connection carries the pulls of all its durable consumers (archive, detection,
// two tallies, incidents, response: six, each fetching up to 32 MiB) and of ReadEvents, so
// when they catch up with a backlog at once the queue is theirs together; at 32 MiB the server
// closed the node's connection under load and every publish after failed
// (TestEmbeddedConsumersOfABacklog). It is a bound, not an allocation: the queue holds only
// what is in flight.
const maxPending = 512 << 20

// Config says where the bus is and how it keeps events.
type Config struct {
	// URL of an external NATS server or cluster (nats://host:4222). Empty runs an embedded
	// server with its store under DataDir.
	URL string
	// DataDir is the embedded server's data directory; JetStream keeps its files in
	// DataDir/jetstream. Required when URL is empty.
	DataDir string
	// Listen is an address (host:port) where the embedded server accepts NATS clients, for
	// other omamori nodes. Empty means no network listener: the process talks to its server
	// in memory. The listener has no authentication of its own; use Configure to add it.
	Listen string
	// Configure, if set, adjusts the embedded server's options before it starts (TLS,
	// accounts, cluster routes).
	Configure func(*server.Options)

	// SyncInterval is how often the embedded server fsyncs its files. Zero means fsync on
	// every write before acknowledging it (SyncAlways), the default; see the package doc.
	SyncInterval time.Duration

	// MaxAge and MaxBytes bound the EVENTS stream (oldest first out); zero means unbounded.
	// The archive keeps events for years; the stream only needs to hold them until every
	// consumer has read them.
	MaxAge   time.Duration
	MaxBytes int64
	// Replicas of each stream on a cluster; zero means one.
	Replicas int

	// Prefix, if set, is put before stream names and subjects (Prefix_EVENTS,
	// Prefix.events.<tenant>), so that several instances or test runs share one NATS.
	Prefix string

	Logger *slog.Logger
}

// Bus is a connection to JetStream with the streams omamori uses. It is safe for concurrent use.
type Bus struct {
	cfg    Config
	log    *slog.Logger
	srv    *server.Server // nil when connected to an external server
	nc     *nats.Conn
	js     jetstream.JetStream
	events string // stream names
	dead   string
	alerts string
	lock   *os.File // held while the embedded server owns DataDir
}

// Open starts the embedded server or connects to the external one, and makes sure the streams
// exist with the configured limits.
func Open(ctx context.Context, cfg Config) (*Bus, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Bus{cfg: cfg, log: log.With("component", "bus")}
	b.events, b.dead, b.alerts = b.streamName(EventsStream), b.streamName(DeadLetterStream), b.streamName(AlertsStream)
	if err := b.connect(ctx); err != nil {
		b.Close()
		return nil, err
	}
	if err := b.ensureStreams(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Bus) connect(ctx context.Context) error {
	opts := []nats.Option{
		nats.Name("omamori"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			b.log.Warn("nats connection", "err", err)
		}),
	}
	if b.cfg.URL != "" {
		opts = append(opts, nats.MaxReconnects(-1), nats.RetryOnFailedConnect(false))
		nc, err := nats.Connect(b.cfg.URL, opts...)
		if err != nil {
			return fmt.Errorf("connect to nats %s: %w", b.cfg.URL, err)
		}
		b.nc = nc
	} else {
		lock, err := lockDir(b.cfg.DataDir)
		if err != nil {
			return err
		}
		b.lock = lock
		srv, err := startServer(b.cfg, b.log)
		if err != nil {
			return err
		}
		b.srv = srv
		nc, err := nats.Connect("", append(opts, nats.InProcessServer(srv))...)
		if err != nil {
			return fmt.Errorf("connect to embedded nats: %w", err)
		}
		b.nc = nc
	}
	js, err := jetstream.New(b.nc,
		// Many batches in flight keep the store busy; ingest bounds them further.
		jetstream.WithPublishAsyncMaxPending(1024),
		jetstream.WithPublishAsyncTimeout(time.Minute),
	)
	if err != nil {
		return fmt.Errorf("open jetstream: %w", err)
	}
	b.js = js
	return nil
}

func startServer(cfg Config, log *slog.Logger) (*server.Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("start embedded nats: no data directory")
	}
	opts := &server.Options{
		ServerName:   "omamori",
		JetStream:    true,
		StoreDir:     filepath.Join(cfg.DataDir, "jetstream"),
		DontListen:   cfg.Listen == "",
		NoSigs:       true,
		MaxPayload:   DefaultMaxPayload,
		MaxPending:   maxPending,
		SyncInterval: cfg.SyncInterval,
		SyncAlways:   cfg.SyncInterval == 0,
	}
	if cfg.Listen != "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("start embedded nats: listen address %q: %w", cfg.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("start embedded nats: listen port %q: %w", port, err)
		}
		if p == 0 {
			p = server.RANDOM_PORT // nats-server reads 0 as its default, 4222
		}
		opts.Host, opts.Port = host, p
	}
	if cfg.Configure != nil {
		cfg.Configure(opts)
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("start embedded nats: %w", err)
	}
	srv.SetLoggerV2(serverLog{log.With("component", "nats")}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("start embedded nats: not ready after 30s")
	}
	return srv, nil
}

func (b *Bus) streamName(base string) string {
	if b.cfg.Prefix == "" {
		return base
	}
	return b.cfg.Prefix + "_" + base
}

func (b *Bus) subject(root, tenant string) string {
	if b.cfg.Prefix == "" {
		return root + "." + tenant
	}
	return b.cfg.Prefix + "." + root + "." + tenant
}

func (b *Bus) ensureStreams(ctx context.Context) error {
	replicas := max(b.cfg.Replicas, 1)
	streams := []jetstream.StreamConfig{{
		Name:        b.events,
		Description: "omamori events, in batches (event.AppendBatch)",
		Subjects:    []string{b.subject(eventsRoot, "*")},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      b.cfg.MaxAge,
		MaxBytes:    orUnlimited(b.cfg.MaxBytes),
		Replicas:    replicas,
	}, {
		Name:        b.dead,
		Description: "omamori dead letters: records no decoder understood (deadletter.AppendBatch)",
		Subjects:    []string{b.subject(deadLetterRoot, "*")},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      b.cfg.MaxAge,
		MaxBytes:    -1,
		Replicas:    replicas,
	}, {
		Name:        b.alerts,
		Description: "omamori alerts: what detection found (JSON, one alert a message)",
		Subjects:    []string{b.subject(alertsRoot, "*")},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      b.cfg.MaxAge,
		MaxBytes:    -1,
		Replicas:    replicas,
	}}
	for _, sc := range streams {
		if _, err := b.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("ensure stream %s: %w", sc.Name, err)
		}
	}
	return nil
}

func orUnlimited(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}

// MaxPayload returns the largest message the server accepts; batches must be smaller.
func (b *Bus) MaxPayload() int { return int(b.nc.MaxPayload()) }

// ErrTenant is wrapped by the errors of publishing for a tenant that tenant.Parse refuses: the
// tenant is a token of the subject, so '.', '*', '>' and white space would change its meaning.
var ErrTenant = errors.New("bus: invalid tenant name")

// PublishEvents publishes one batch of events of tenant (an event.AppendBatch encoding) to
// EVENTS and returns when JetStream has acknowledged it, or with an error, in which case the
// batch may or may not be stored. Callers may publish concurrently: many batches are in flight
// at once, and each call returns on its own acknowledgement. batch must not be modified until
// PublishEvents returns.
func (b *Bus) PublishEvents(ctx context.Context, tenant string, batch []byte) error {
	return b.publish(ctx, eventsRoot, tenant, batch)
}

// PublishDeadLetters publishes one batch of dead letters (a deadletter.AppendBatch encoding) of
// tenant to DEADLETTER, as PublishEvents does.
func (b *Bus) PublishDeadLetters(ctx context.Context, tenant string, batch []byte) error {
	return b.publish(ctx, deadLetterRoot, tenant, batch)
}

func (b *Bus) publish(ctx context.Context, root, name string, data []byte) error {
	if _, err := tenant.Parse(name); err != nil {
		return fmt.Errorf("publish to %s: %w: %w", root, ErrTenant, err)
	}
	subj := b.subject(root, name)
	fut, err := b.js.PublishAsync(subj, data)
	if err != nil {
		return fmt.Errorf("publish to %s: %w", subj, err)
	}
	select {
	case <-fut.Ok():
		return nil
	case err := <-fut.Err():
		return fmt.Errorf("publish to %s: %w", subj, err)
	case <-ctx.Done():
		return fmt.Errorf("publish to %s: %w", subj, context.Cause(ctx))
	}
}

// Msg is one message read back from a stream. Data belongs to the fn of ReadEvents or
// ReadDeadLetters that receives it, which may keep it.
type Msg struct {
	Seq     uint64
	Subject string
	Tenant  string
	Time    time.Time
	Data    []byte
}

// ReadEvents calls fn with every batch in EVENTS, oldest first, up to the last one stored when
// it starts. It is for tests and tools; consumers that follow the stream use their own durable
// consumers.
func (b *Bus) ReadEvents(ctx context.Context, fn func(Msg) error) error {
	return b.readStream(ctx, b.events, fn)
}

// StreamState says what a stream holds: messages First to Last, Msgs of them (fewer when
// some were deleted). An empty stream has First = Last+1.
type StreamState struct {
	First, Last, Msgs uint64
}

// EventsState returns what EVENTS holds now.
func (b *Bus) EventsState(ctx context.Context) (StreamState, error) {
	s, err := b.js.Stream(ctx, b.events)
	if err != nil {
		return StreamState{}, fmt.Errorf("stream %s: %w", b.events, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return StreamState{}, fmt.Errorf("stream %s: %w", b.events, err)
	}
	return StreamState{First: info.State.FirstSeq, Last: info.State.LastSeq, Msgs: info.State.Msgs}, nil
}

// PublishAlert publishes one alert of tenant (JSON) to ALERTS, as PublishEvents does.
func (b *Bus) PublishAlert(ctx context.Context, tenant string, alert []byte) error {
	return b.publish(ctx, alertsRoot, tenant, alert)
}

// ReadAlerts does for ALERTS what ReadEvents does for EVENTS.
func (b *Bus) ReadAlerts(ctx context.Context, fn func(Msg) error) error {
	return b.readStream(ctx, b.alerts, fn)
}

// ReadDeadLetters does for DEADLETTER what ReadEvents does for EVENTS.
func (b *Bus) ReadDeadLetters(ctx context.Context, fn func(Msg) error) error {
	return b.readStream(ctx, b.dead, fn)
}

func (b *Bus) readStream(ctx context.Context, name string, fn func(Msg) error) error {
	s, err := b.js.Stream(ctx, name)
	if err != nil {
		return fmt.Errorf("read stream %s: %w", name, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("read stream %s: %w", name, err)
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 {
		return nil
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return fmt.Errorf("read stream %s: %w", name, err)
	}
	// Batches run to megabytes: bound what is pulled ahead by bytes, not only by count.
	it, err := c.Messages(jetstream.PullMaxMessagesWithBytesLimit(64, 32<<20))
	if err != nil {
		return fmt.Errorf("read stream %s: %w", name, err)
	}
	defer it.Stop()
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("read stream %s: %w", name, err)
		}
		md, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("read stream %s: %w", name, err)
		}
		subj := m.Subject()
		msg := Msg{Seq: md.Sequence.Stream, Subject: subj, Tenant: subj[strings.LastIndexByte(subj, '.')+1:],
			Time: md.Timestamp, Data: m.Data()}
		if err := fn(msg); err != nil {
			return err
		}
		if md.Sequence.Stream >= last {
			return nil
		}
	}
}

// Drain waits until every publish in flight has been acknowledged or failed, or ctx ends.
func (b *Bus) Drain(ctx context.Context) error {
	select {
	case <-b.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("drain bus: %w", context.Cause(ctx))
	}
}

// Close closes the connection and shuts the embedded server down, which flushes and syncs
// its files. Callers stop publishing first.
func (b *Bus) Close() error {
	if b.nc != nil {
		b.nc.Close()
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
	if b.lock != nil {
		b.lock.Close() // releases the flock
	}
	return nil
}

// ErrInUse is returned by Open when another process runs an embedded server on the same data
// directory. nats-server does not guard its store directory, and two servers writing one
// store would corrupt it.
var ErrInUse = errors.New("bus: data directory in use by another omamori process")

// lockDir takes an exclusive lock on dir/bus.lock for as long as the returned file is open.
func lockDir(dir string) (*os.File, error) {
	if dir == "" {
		return nil, errors.New("start embedded nats: no data directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "bus.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrInUse, dir)
		}
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	return f, nil
}

// serverLog sends nats-server's log to slog.
type serverLog struct{ l *slog.Logger }

func (s serverLog) Noticef(format string, v ...any) { s.l.Info(fmt.Sprintf(format, v...)) }
func (s serverLog) Warnf(format string, v ...any)   { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s serverLog) Fatalf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s serverLog) Errorf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s serverLog) Debugf(format string, v ...any)  { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s serverLog) Tracef(format string, v ...any)  { s.l.Debug(fmt.Sprintf(format, v...)) }

// Ping reports whether JetStream answers, for readiness checks.
func (b *Bus) Ping(ctx context.Context) error {
	if _, err := b.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("bus: jetstream does not answer: %w", err)
	}
	return nil
}
