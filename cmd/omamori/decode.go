package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/sigma"
)

var decodeCommand = command{
	name:    "decode",
	summary: "show what omamori understands of log files",
	usage: `usage: omamori decode [-format F] [-tz ZONE] [-year YEAR] FILE...

Decode reads log files and prints each record as omamori understood it: one line of
JSON per event, with Elastic Common Schema field names (@timestamp, source.ip,
destination.port, user.name, event.outcome, ...). Use it to check that a firewall's or a
server's logs are read as you expect before pointing them at 'omamori serve'.

A record that no decoder understands is not printed to standard output: it is reported
on standard error with its line and the reason, and counted in the summary that ends
each file. "-" reads standard input; gzipped files are read as they are.

The summary also says how many events met a log source of omamori's Sigma mapping (a
Windows channel a service reads, a dataset): the events Sigma rules can see. A file whose
events met none gets a warning naming the format it was read as and the formats that
would fit.

Flags:

	-format F
		the format of the files; by default it is detected from each file's first
		bytes. One of: ` + strings.Join(decode.Names(), ", ") + `.
	-tz ZONE
		the time zone of timestamps that carry none, such as RFC 3164 syslog
		(default Asia/Tokyo).
	-year YEAR
		the year of RFC 3164 syslog timestamps, which carry none (default: the
		current year, or the one before for dates ahead of today).
`,
	run: runDecode,
}

func runDecode(ctx context.Context, e env, fs *flag.FlagSet, args []string) error {
	format := fs.String("format", "auto", "")
	tz := fs.String("tz", "Asia/Tokyo", "")
	year := fs.Int("year", 0, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return hint(errors.New("decode: no files given"), "omamori decode /var/log/auth.log (or - for standard input)")
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return hint(fmt.Errorf("decode: time zone %q: %w", *tz, err), "use an IANA name such as Asia/Tokyo or UTC")
	}
	opts := decode.Options{Location: loc, Year: *year}
	logSources := sigma.DefaultMapping().LogSources()
	out := bufio.NewWriterSize(e.stdout, 256<<10)
	defer out.Flush()
	for _, name := range fs.Args() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := decodeFile(ctx, e, out, name, *format, opts, logSources); err != nil {
			return err
		}
	}
	return out.Flush()
}

// decodeFile prints the events of one file. logSources tells the events of a kind some Sigma
// log source means: decode loads no rules, so it asks the mapping.
func decodeFile(ctx context.Context, e env, out *bufio.Writer, name, format string, opts decode.Options, logSources func(*event.Event) bool) error {
	f, err := openInput(name, e.stdin)
	if err != nil {
		return err
	}
	defer f.Close()
	rd, err := decode.Decompress(f)
	if err != nil {
		return fmt.Errorf("decode %s: %w", name, err)
	}
	dr, format, err := decode.NewReader(rd, format, opts, 0)
	if err != nil {
		return fmt.Errorf("decode %s: %w", name, err)
	}
	var ev event.Event
	var buf []byte
	events, dead := 0, 0
	cov := coverage{covers: logSources}
	now := time.Now()
	for ctx.Err() == nil {
		ev.Received = now
		err := dr.Next(&ev)
		if errors.Is(err, io.EOF) {
			break
		}
		if de, ok := errors.AsType[*decode.Error](err); ok {
			dead++
			fmt.Fprintf(e.stderr, "%s: %v\n", name, de)
			continue
		}
		if err != nil {
			return fmt.Errorf("decode %s: %w", name, err)
		}
		events++
		cov.observe(&ev)
		ev.Received = time.Time{} // the output shows the record, not when this command ran
		buf = event.AppendECS(buf[:0], &ev)
		if _, err := out.Write(buf); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stderr, "%s: %d events, %d met a Sigma log source, %d dead letters (format %s)\n", name, events, cov.met, dead, format)
	cov.warn(e.stderr, name, format, events)
	return ctx.Err()
}

// openInput opens a named file, or standard input for "-".
func openInput(name string, stdin io.Reader) (io.ReadCloser, error) {
	if name == "-" {
		return io.NopCloser(stdin), nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, hint(err, "check the path; 'omamori decode -' reads standard input")
	}
	return f, nil
}
