package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/keyring"
)

// BenchOptions configure Bench.
type BenchOptions struct {
	// File is a log file whose events are archived, repeated until Events are reached.
	File string
	// Events to append (default 1,000,000); negative for one pass over the file, which gives
	// a fair size on disk (repeating a file flatters compression).
	Events int
	// Batch is the events per Append, as a bus message carries (default 1000); SyncEvery the
	// Appends per Sync, as the consumer groups them (default 8).
	Batch, SyncEvery int
	// Dir is a scratch directory; empty makes a temporary one, removed afterwards.
	Dir string
}

// BenchResult is what Bench measured.
type BenchResult struct {
	File                       string
	Events                     int
	AppendSeconds              float64 // append, compress, encrypt, hash and fsync
	RawBytes, DiskBytes        int64   // the log lines (with newlines) and everything the archive wrote
	VerifySeconds              float64
	VerifyBytes, VerifyRecords int64
}

// EventsPerSecond is the append rate.
func (r BenchResult) EventsPerSecond() float64 { return float64(r.Events) / r.AppendSeconds }

// VerifyMBps is the rate of verification in MB of segment files per second.
func (r BenchResult) VerifyMBps() float64 { return float64(r.VerifyBytes) / 1e6 / r.VerifySeconds }

// Ratio is how many times smaller the archive is than the raw log.
func (r BenchResult) Ratio() float64 { return float64(r.RawBytes) / float64(r.DiskBytes) }

func (r BenchResult) String() string {
	return fmt.Sprintf("%s: %d events appended at %.0f events/s; %.1f bytes/event on disk vs %.1f raw (%.1fx smaller); verify %.0f MB/s (%.0f raw MB/s, %.0f records/s)",
		filepath.Base(r.File), r.Events, r.EventsPerSecond(), float64(r.DiskBytes)/float64(r.Events), float64(r.RawBytes)/float64(r.Events),
		r.Ratio(), r.VerifyMBps(), float64(r.RawBytes)/1e6/r.VerifySeconds, float64(r.VerifyRecords)/r.VerifySeconds)
}

// Bench archives the events of a log file into a scratch archive and measures the append rate,
// the size on disk against the raw log, and the speed of a full Verify.
func Bench(ctx context.Context, o BenchOptions) (BenchResult, error) {
	if o.Events == 0 {
		o.Events = 1_000_000
	}
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	if o.SyncEvery <= 0 {
		o.SyncEvery = 8
	}
	res := BenchResult{File: o.File, Events: o.Events}
	events, err := benchEvents(o.File)
	if err != nil {
		return res, err
	}
	if o.Events < 0 {
		o.Events, res.Events = len(events), len(events)
	}
	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "omamori-bench-archive-*"); err != nil {
			return res, err
		}
		defer os.RemoveAll(dir)
	}
	keys, err := keyring.New(keyring.Generate())
	if err != nil {
		return res, err
	}
	a, err := Open(ctx, Options{Dir: dir, Keys: keys})
	if err != nil {
		return res, err
	}
	batch := make([]event.Event, 0, o.Batch)
	start := time.Now()
	appends := 0
	for i := 0; i < o.Events; i++ {
		e := events[i%len(events)]
		res.RawBytes += int64(len(e.Raw)) + 1
		batch = append(batch, e)
		if len(batch) == o.Batch || i == o.Events-1 {
			appends++
			if err := a.Append(ctx, "bench", uint64(appends), batch); err != nil {
				a.Close()
				return res, err
			}
			batch = batch[:0]
			if appends%o.SyncEvery == 0 {
				if err := a.Sync(ctx); err != nil {
					a.Close()
					return res, err
				}
			}
		}
	}
	if err := a.Close(); err != nil {
		return res, err
	}
	res.AppendSeconds = time.Since(start).Seconds()
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				res.DiskBytes += fi.Size()
			}
		}
		return nil
	})
	start = time.Now()
	rep, err := Verify(ctx, dir, keys, nil)
	if err != nil {
		return res, err
	}
	res.VerifySeconds = time.Since(start).Seconds()
	res.VerifyBytes, res.VerifyRecords = rep.Bytes, int64(rep.Records)
	if !rep.OK() {
		return res, fmt.Errorf("bench: verify found %d problems: %v", len(rep.Problems), rep.Problems[0])
	}
	return res, nil
}

func benchEvents(file string) ([]event.Event, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, _, err := decode.NewReader(f, "auto", decode.Options{Location: time.UTC}, 0)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var out []event.Event
	for {
		var e event.Event
		e.Received = now
		err := r.Next(&e)
		if errors.Is(err, io.EOF) {
			break
		}
		if _, ok := errors.AsType[*decode.Error](err); ok {
			continue
		}
		if err != nil {
			return nil, err
		}
		e.Tenant, e.Source = "bench", "bench"
		out = append(out, *e.Clone())
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bench: no events in %s", file)
	}
	return out, nil
}
