package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/ingest"
	"github.com/omamori-project/omamori/internal/scenario"
)

var benchCommand = command{
	name:    "bench",
	summary: "measure how fast this machine decodes and ingests logs",
	usage: `usage: omamori bench [-events N] [-conns N] [-batch N] [decode|ingest]...

Bench prints omamori's headline speeds on this machine, with generated hospital
logs: a gateway's routine FortiGate and sshd syslog, and the Windows events of the
ransomware scenario.

	decode   nanoseconds and allocations per event for each decoder, on one core.
	ingest   events per second from TCP syslog sockets to durable JetStream
	         (fsync before every acknowledgement), in a temporary data directory.

With no argument it runs both. The figures vary with the machine and its load:
compare runs on the same machine.

Flags:

	-events N
		events the ingest benchmark sends (default 1000000).
	-conns N
		TCP connections sending at once (default 4).
	-batch N
		events per bus message (default 1000).
`,
	run: runBench,
}

func runBench(ctx context.Context, e env, fs *flag.FlagSet, args []string) error {
	events := fs.Int("events", 1_000_000, "")
	conns := fs.Int("conns", 4, "")
	batch := fs.Int("batch", 1000, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	which := fs.Args()
	if len(which) == 0 {
		which = []string{"decode", "ingest"}
	}
	for _, w := range which {
		switch w {
		case "decode":
			benchDecode(e)
		case "ingest":
			fmt.Fprintf(e.stdout, "ingest: %d events over %d TCP connections, %d events per batch...\n", *events, *conns, *batch)
			r, err := ingest.Bench(ctx, ingest.BenchOptions{Events: *events, Conns: *conns, BatchEvents: *batch})
			if err != nil {
				return fmt.Errorf("bench ingest: %w", err)
			}
			fmt.Fprintf(e.stdout, "ingest: %s\n", r)
		default:
			return hint(fmt.Errorf("bench: unknown benchmark %q", w), "omamori bench decode|ingest")
		}
	}
	return nil
}

// benchDecode measures each decoder on records of its own format, decoding into one reused
// event as the ingest pipeline does.
func benchDecode(e env) {
	routine := bytes.Split(bytes.TrimSuffix(scenario.Routine(10_000), []byte("\n")), []byte("\n"))
	var fortigate, sshd, windows [][]byte
	for _, l := range routine {
		if bytes.Contains(l, []byte("devname=")) {
			fortigate = append(fortigate, l)
		} else {
			sshd = append(sshd, l)
		}
	}
	for _, r := range scenario.Ransomware(time.Now()) {
		if r.Format == "winlogbeat" {
			windows = append(windows, r.Data)
		}
	}
	sets := []struct {
		name, format string
		records      [][]byte
	}{
		{"syslog (sshd)", "syslog", sshd},
		{"syslog (FortiGate)", "syslog", fortigate},
		{"winlogbeat", "winlogbeat", windows},
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "decode\tns/event\tevents/s/core\tallocs/event\tMB/s\t")
	for _, s := range sets {
		d, err := decode.New(s.format, decode.Options{Location: time.UTC})
		if err != nil {
			panic(err) // the formats are omamori's own
		}
		size := 0
		for _, r := range s.records {
			size += len(r)
		}
		now := time.Now()
		res := testing.Benchmark(func(b *testing.B) {
			var ev event.Event
			for i := 0; b.Loop(); i++ {
				ev.Reset()
				ev.Raw, ev.Received = s.records[i%len(s.records)], now
				if err := d.Decode(&ev); err != nil {
					b.Fatal(err)
				}
			}
		})
		ns := float64(res.T.Nanoseconds()) / float64(res.N)
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.1f\t%.0f\t\n", s.name, ns, 1e9/ns,
			float64(res.MemAllocs)/float64(res.N), float64(size)/float64(len(s.records))/ns*1e3)
	}
	tw.Flush()
}
