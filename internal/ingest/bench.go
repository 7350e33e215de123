package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/scenario"
)

// BenchOptions configure Bench. Zero values take the defaults.
type BenchOptions struct {
	Events       int           // events to send, default 1,000,000
	Conns        int           // TCP connections sending at once, default 4
	BatchEvents  int           // events per batch (Config.MaxEvents), default 1000
	SyncInterval time.Duration // the bus's fsync interval; 0 means fsync before every ack
	Dir          string        // data directory of the bus; a temporary one, removed after, when empty
	Logger       *slog.Logger
}

// BenchResult is what Bench measured.
type BenchResult struct {
	Events       int64         // events acknowledged
	DeadLetters  int64         // records that went to the dead letters (should be 0)
	Stored       int64         // events read back from the stream afterwards
	Bytes        int64         // syslog bytes sent
	Elapsed      time.Duration // from the first byte sent to the last connection's acknowledgement
	EventsPerSec float64
	MBPerSec     float64
}

func (r BenchResult) String() string {
	return fmt.Sprintf("%d events (%d stored, %d dead letters), %.1f MB in %v: %.0f events/s, %.1f MB/s",
		r.Events, r.Stored, r.DeadLetters, float64(r.Bytes)/1e6, r.Elapsed.Round(time.Millisecond), r.EventsPerSec, r.MBPerSec)
}

// Bench measures the whole path from socket to durable JetStream: it starts an embedded bus, a
// TCP syslog listener on 127.0.0.1, sends a generated FortiGate and sshd mix over several
// connections, and waits for each connection's acknowledgement (EOF after half-close). It is
// `omamori bench ingest`.
func Bench(ctx context.Context, opts BenchOptions) (BenchResult, error) {
	if opts.Events <= 0 {
		opts.Events = 1_000_000
	}
	if opts.Conns <= 0 {
		opts.Conns = 4
	}
	if opts.BatchEvents <= 0 {
		opts.BatchEvents = 1000
	}
	dir := opts.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "omamori-bench-")
		if err != nil {
			return BenchResult{}, fmt.Errorf("bench ingest: %w", err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	b, err := bus.Open(ctx, bus.Config{DataDir: dir, SyncInterval: opts.SyncInterval, Logger: opts.Logger})
	if err != nil {
		return BenchResult{}, fmt.Errorf("bench ingest: %w", err)
	}
	defer b.Close()
	p, err := NewPipeline(b, Config{MaxEvents: opts.BatchEvents}, nil, opts.Logger)
	if err != nil {
		return BenchResult{}, fmt.Errorf("bench ingest: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return BenchResult{}, fmt.Errorf("bench ingest: %w", err)
	}
	lctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- p.ServeTCP(lctx, ln, Listener{Tenant: "bench", Source: "bench"}) }()
	defer func() { stop(); <-served; p.Close(context.Background()) }()

	chunk, lines := scenario.Routine(2000), 2000
	var res BenchResult
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for i := range opts.Conns {
		n := opts.Events / opts.Conns
		if i < opts.Events%opts.Conns {
			n++
		}
		wg.Go(func() {
			sent, err := benchSend(ctx, ln.Addr().String(), chunk, lines, n)
			mu.Lock()
			defer mu.Unlock()
			res.Bytes += sent
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	if firstErr != nil {
		return res, fmt.Errorf("bench ingest: %w", firstErr)
	}
	// Every connection saw EOF: its events are acknowledged. The read back is not timed.
	err = b.ReadEvents(ctx, func(m bus.Msg) error {
		n, err := event.BatchCount(m.Data)
		res.Stored += int64(n)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("bench ingest: read back: %w", err)
	}
	err = b.ReadDeadLetters(ctx, func(bus.Msg) error { res.DeadLetters++; return nil })
	if err != nil {
		return res, fmt.Errorf("bench ingest: read back: %w", err)
	}
	res.Events = res.Stored
	res.EventsPerSec = float64(res.Events) / res.Elapsed.Seconds()
	res.MBPerSec = float64(res.Bytes) / 1e6 / res.Elapsed.Seconds()
	return res, nil
}

// benchSend sends n lines from chunk (which holds lines lines) and waits for the server's EOF.
func benchSend(ctx context.Context, addr string, chunk []byte, lines, n int) (int64, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	var sent int64
	for n > 0 {
		part := chunk
		if n < lines {
			// Cut after the n-th newline.
			i, off := 0, 0
			for ; i < n; i++ {
				off += bytes.IndexByte(part[off:], '\n') + 1
			}
			part = part[:off]
		}
		w, err := c.Write(part)
		sent += int64(w)
		if err != nil {
			return sent, err
		}
		n -= min(n, lines)
	}
	c.(*net.TCPConn).CloseWrite()
	if _, err := io.Copy(io.Discard, c); err != nil {
		return sent, fmt.Errorf("wait for acknowledgement: %w", err)
	}
	return sent, nil
}
