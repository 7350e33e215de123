package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/ingest"
)

var ingestCommand = command{
	name:    "ingest",
	summary: "import log files into omamori",
	usage: `usage: omamori ingest [-format F] [-tenant T] [-source S] [-year YEAR] FILE...

Ingest imports log files into the bus in the data directory, for logs that were kept
elsewhere before omamori ran: a VPN appliance's exported logs, an .evtx file, a
directory of rotated syslog files. Plain and gzipped files are read alike. The format
of each file is detected from its first bytes unless -format names it.

Ingest reports when every event is durably on the bus. A record that no decoder
understands is kept in the dead letters with its reason, and counted.

Ingest opens the embedded bus itself, so it runs while 'omamori serve' does not
(or with bus.url pointing at an external NATS). To send logs to a running server,
use syslog or POST /api/v1/ingest.

Flags:

	-format F
		the format of the files (default: detected). One of: ` + strings.Join(decode.Names(), ", ") + `.
	-tenant T
		the hospital the logs belong to (default: ingest.default_tenant).
	-source S
		names where the logs came from, in events and metrics (default: the file name).
	-year YEAR
		the year of RFC 3164 syslog timestamps, which carry none.
` + configFlagsUsage,
	run: runIngest,
}

func runIngest(ctx context.Context, e env, fs *flag.FlagSet, args []string) error {
	var cf configFlags
	cf.register(fs)
	format := fs.String("format", "auto", "")
	tenant := fs.String("tenant", "", "")
	source := fs.String("source", "", "")
	year := fs.Int("year", 0, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return hint(errors.New("ingest: no files given"), "omamori ingest fortigate-2024-05.log.gz")
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	if *tenant == "" {
		*tenant = cfg.Ingest.DefaultTenant
	}
	always, interval, err := cfg.Bus.SyncPolicy()
	if err != nil {
		return err
	}
	if always {
		interval = 0
	}
	b, err := bus.Open(ctx, bus.Config{URL: cfg.Bus.URL, DataDir: cfg.DataDir, SyncInterval: interval,
		MaxAge: cfg.Bus.MaxAge, MaxBytes: cfg.Bus.MaxBytes})
	if errors.Is(err, bus.ErrInUse) {
		return hint(err, "omamori serve is running on this data directory: send the logs to it over syslog or POST /api/v1/ingest, or stop it first")
	}
	if err != nil {
		return err
	}
	defer b.Close()
	p, err := ingest.NewPipeline(b, ingest.Config{MaxEvents: cfg.Ingest.BatchSize, MaxRecord: cfg.Ingest.MaxRecord}, nil, nil)
	if err != nil {
		return err
	}
	opts := decode.Options{Location: cfg.Location(), Year: *year}
	var total ingest.Counts
	for _, name := range fs.Args() {
		src := *source
		if src == "" {
			src = "file:" + name
		}
		c, err := ingestFile(ctx, e, p, name, *format, *tenant, src, opts, cfg.Ingest.MaxRecord)
		total.Accepted += c.Accepted
		total.DeadLetters += c.DeadLetters
		if err != nil {
			p.Close(context.WithoutCancel(ctx))
			return err
		}
	}
	if err := p.Close(ctx); err != nil {
		return err
	}
	// A bus bounded by bytes or age drops its oldest messages to take new ones, whether the
	// archive has read them or not.
	if n, err := b.Dropped(ctx, archive.ConsumerName); err != nil {
		return fmt.Errorf("ingest: %w", err)
	} else if n > 0 {
		return hint(fmt.Errorf("ingest: the bus dropped %d messages (batches of events) that the archive had not read, to stay within bus.max_bytes or bus.max_age", n),
			"raise bus.max_bytes so that the bus holds the import until 'omamori serve' archives it, or send the logs to a running server")
	}
	fmt.Fprintf(e.stdout, "%d events and %d dead letters are on the bus (tenant %s)\n", total.Accepted, total.DeadLetters, *tenant)
	return nil
}

func ingestFile(ctx context.Context, e env, p *ingest.Pipeline, name, format, tenant, source string, opts decode.Options, maxRecord int) (ingest.Counts, error) {
	f, err := openInput(name, e.stdin)
	if err != nil {
		return ingest.Counts{}, err
	}
	defer f.Close()
	var r io.Reader = f
	if st, err := os.Stat(name); err == nil && name != "-" {
		bar := progressbar.NewOptions64(st.Size(),
			progressbar.OptionSetDescription(name), progressbar.OptionSetWriter(e.stderr),
			progressbar.OptionShowBytes(true), progressbar.OptionClearOnFinish(),
			progressbar.OptionSetVisibility(isTerminal(e.stderr)))
		defer bar.Finish()
		pr := progressbar.NewReader(f, bar)
		r = &pr
	}
	rd, err := decode.Decompress(r)
	if err != nil {
		return ingest.Counts{}, fmt.Errorf("ingest %s: %w", name, err)
	}
	dr, format, err := decode.NewReader(rd, format, opts, maxRecord)
	if err != nil {
		return ingest.Counts{}, fmt.Errorf("ingest %s: %w", name, err)
	}
	s, err := p.NewStream(tenant, source, format, opts)
	if err != nil {
		return ingest.Counts{}, err
	}
	var ev event.Event
	for ctx.Err() == nil {
		ev.Received = time.Now()
		err := dr.Next(&ev)
		if errors.Is(err, io.EOF) {
			break
		}
		if _, ok := errors.AsType[*decode.Error](err); err != nil && !ok {
			return ingest.Counts{}, fmt.Errorf("ingest %s: %w", name, err)
		}
		s.AddDecoded(&ev, err)
		ev = event.Event{} // the stream keeps ev's Raw and strings; start afresh
	}
	c, err := s.Wait(ctx)
	if err != nil {
		return c, fmt.Errorf("ingest %s: %w", name, err)
	}
	fmt.Fprintf(e.stderr, "%s: %d events, %d dead letters (format %s)\n", name, c.Accepted, c.DeadLetters, format)
	return c, ctx.Err()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
