package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/omamori-project/omamori/internal/archive"
	"github.com/omamori-project/omamori/internal/behavior"
	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/ingest"
	"github.com/omamori-project/omamori/internal/nft"
	"github.com/omamori-project/omamori/internal/rules"
	"github.com/omamori-project/omamori/internal/scenario"
	"github.com/omamori-project/omamori/internal/sigma"
)

var benchCommand = command{
	name:    "bench",
	summary: "measure omamori's hot paths on this machine",
	usage: `usage: omamori bench [flags] [decode|ingest|detect|enforce|access|archive]...

Bench prints omamori's headline speeds on this machine, with generated hospital
logs: a gateway's routine FortiGate and sshd syslog, and the Windows events of the
ransomware scenario.

	decode   nanoseconds and allocations per event for each decoder, on one core.
	ingest   events per second from TCP syslog sockets to durable JetStream
	         (fsync before every acknowledgement), in a temporary data directory.
	detect   events per second matched against every SigmaHQ rule, and against one, on
	         the SigmaHQ regression events (real Windows attack events); needs the
	         SigmaHQ folder given by -sigma.
	enforce  block decisions per second into the kernel's nftables (in a throw-away network
	         namespace: the machine's own firewall is not touched; needs root), the time
	         of one block into the full sets, and of reloading them all after a restart.
	access   EHR access decisions per second and their p50/p99 latency, in process and
	         over HTTP, on a synthetic hospital.
	archive  events per second appended to the archive (compressed, encrypted, hashed,
	         fsynced), bytes per event on disk against the raw log, and verification
	         speed: on the gateway's routine log, and on the files given by -files.

With no argument it runs decode and ingest. The figures vary with the machine and its load:
compare runs on the same machine.

Flags:

	-events N
		events the ingest benchmark sends (default 1000000).
	-conns N
		TCP connections sending at once (default 4).
	-batch N
		events per bus message (default 1000).
	-entries N
		addresses the enforce benchmark blocks (default 1000000).
	-files FILE,...
		log files for the archive benchmark, such as the Zeek and syslog samples.
	-sigma DIR
		a SigmaHQ checkout with rules* and regression_data folders, for the detect
		benchmark (default ../shared/data/sigma).
`,
	run: runBench,
}

func runBench(ctx context.Context, e env, fs *flag.FlagSet, args []string) error {
	events := fs.Int("events", 1_000_000, "")
	conns := fs.Int("conns", 4, "")
	batch := fs.Int("batch", 1000, "")
	files := fs.String("files", "", "")
	entries := fs.Int("entries", 1_000_000, "")
	sigmaDir := fs.String("sigma", filepath.Join("..", "shared", "data", "sigma"), "")
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
			if err := benchDecode(e); err != nil {
				return err
			}
		case "ingest":
			fmt.Fprintf(e.stdout, "ingest: %d events over %d TCP connections, %d events per batch...\n", *events, *conns, *batch)
			r, err := ingest.Bench(ctx, ingest.BenchOptions{Events: *events, Conns: *conns, BatchEvents: *batch})
			if err != nil {
				return fmt.Errorf("bench ingest: %w", err)
			}
			fmt.Fprintf(e.stdout, "ingest: %s\n", r)
		case "detect":
			if err := benchDetect(ctx, e, *sigmaDir); err != nil {
				return err
			}
		case "enforce":
			fmt.Fprintf(e.stdout, "enforce: %d addresses into nftables in a new network namespace...\n", *entries)
			r, err := nft.Bench(ctx, *entries, 10_000, false)
			if err != nil {
				return hint(fmt.Errorf("bench enforce: %w", err), "the enforce benchmark needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN) to make a network namespace")
			}
			fmt.Fprintf(e.stdout, "enforce: %d addresses in %v (%.0f/s, %d per transaction); one more block into the full sets: median %v, slowest %v; reload after a restart: %v\n",
				r.Entries, r.Load.Round(time.Millisecond), r.PerSecond, r.BatchSize, r.BlockOne, r.BlockOneMax, r.Reconcile.Round(time.Millisecond))
		case "access":
			fmt.Fprintln(e.stdout, "access: EHR access decisions on a synthetic hospital of 2,000 staff and 20,000 patients...")
			if err := benchAccess(ctx, e, 0, true); err != nil {
				return fmt.Errorf("bench access: %w", err)
			}
		case "archive":
			if err := benchArchive(ctx, e, *events, *batch, *files); err != nil {
				return err
			}
		default:
			return hint(fmt.Errorf("bench: unknown benchmark %q", w), "omamori bench decode|ingest|detect|enforce|access|archive")
		}
	}
	return nil
}

// benchDecode measures each decoder on records of its own format, decoding into one reused
// event as the ingest pipeline does.
func benchDecode(e env) error {
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
			return fmt.Errorf("bench decode %s: %w", s.name, err)
		}
		size := 0
		for _, r := range s.records {
			size += len(r)
		}
		now := time.Now()
		var ev event.Event
		var decodeErr error
		res := loop(func(i int) {
			ev.Reset()
			ev.Raw, ev.Received = s.records[i%len(s.records)], now
			if err := d.Decode(&ev); err != nil && decodeErr == nil {
				decodeErr = err
			}
		})
		if decodeErr != nil {
			return fmt.Errorf("bench decode %s: %w", s.name, decodeErr)
		}
		ns := float64(res.elapsed.Nanoseconds()) / float64(res.n)
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.1f\t%.0f\t\n", s.name, ns, 1e9/ns,
			float64(res.allocs)/float64(res.n), float64(size)/float64(len(s.records))/ns*1e3)
	}
	return tw.Flush()
}

// loopResult is what loop measured.
type loopResult struct {
	n       int           // calls of op
	elapsed time.Duration // wall time of the n calls
	allocs  uint64        // heap allocations made meanwhile
}

// loop calls op(0), op(1), ... on this goroutine for about a second and counts the time and
// the heap allocations, as testing.Benchmark does with its default -benchtime. It is written
// out here because importing testing would put the test framework and its flags into the
// binary every hospital runs; omamori bench stays in that binary so that an operator measures
// the server they run, with no Go toolchain.
func loop(op func(i int)) loopResult {
	const (
		benchtime = time.Second
		check     = 256 // calls between reads of the clock, so that reading it costs nothing per call
	)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	n := 0
	for time.Since(start) < benchtime {
		for end := n + check; n < end; n++ {
			op(n)
		}
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	return loopResult{n: n, elapsed: elapsed, allocs: after.Mallocs - before.Mallocs}
}

// benchArchive measures the archive on each file: one pass for the size on disk (a repeated
// file would flatter compression), then events appended until n for the speed.
func benchArchive(ctx context.Context, e env, n, batch int, files string) error {
	routine, err := os.CreateTemp("", "omamori-routine-*.log")
	if err != nil {
		return err
	}
	defer os.Remove(routine.Name())
	if _, err := routine.Write(scenario.Routine(100_000)); err != nil {
		return err
	}
	routine.Close()
	list := []string{routine.Name()}
	if files != "" {
		list = append(list, strings.Split(files, ",")...)
	}
	for _, f := range list {
		size, err := archive.Bench(ctx, archive.BenchOptions{File: f, Events: -1, Batch: batch})
		if err != nil {
			return fmt.Errorf("bench archive %s: %w", f, err)
		}
		speed, err := archive.Bench(ctx, archive.BenchOptions{File: f, Events: n, Batch: batch})
		if err != nil {
			return fmt.Errorf("bench archive %s: %w", f, err)
		}
		fmt.Fprintf(e.stdout, "archive %s:\n  size:  %s\n  speed: %s\n", filepath.Base(f), size, speed)
	}
	return nil
}

// benchDetect matches the SigmaHQ regression events against every rule and against one, so
// the cost of the rule count shows.
func benchDetect(ctx context.Context, e env, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "rules")); err != nil {
		return hint(fmt.Errorf("bench detect: no SigmaHQ rules in %s", dir), "give the folder of a SigmaHQ checkout with -sigma DIR")
	}
	var events []*event.Event
	err := filepath.WalkDir(filepath.Join(dir, "regression_data"), func(p string, d os.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".evtx") {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		r, _, err := decode.NewReader(f, "evtx", decode.Options{}, 0)
		if err != nil {
			return err
		}
		for {
			var ev event.Event
			if err := r.Next(&ev); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return fmt.Errorf("%s: %w", p, err)
			}
			events = append(events, &ev)
		}
	})
	if err != nil {
		return fmt.Errorf("bench detect: read regression events: %w", err)
	}
	fsys := os.DirFS(dir)
	all, report, err := sigma.Load(fsys, sigma.Options{}, "rules", "rules-emerging-threats", "rules-threat-hunting", "rules-dfir", "rules-placeholder")
	if err != nil {
		return fmt.Errorf("bench detect: %w", err)
	}
	one, _, err := sigma.Load(fsys, sigma.Options{}, "rules/windows/process_creation/proc_creation_win_susp_shadow_copies_deletion.yml")
	if err != nil {
		return fmt.Errorf("bench detect: %w", err)
	}
	if err := benchStage(e); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "detect: %d of %d SigmaHQ rules compiled; %d events from %s\n",
		report.Compiled, report.Rules, len(events), filepath.Join(dir, "regression_data"))
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rules loaded\tevents/s (one core)\tmatches/round\t")
	for _, rs := range []*sigma.Ruleset{all, one} {
		r := sigma.Bench(ctx, rs, events, 2*time.Second)
		rounds := max(1, r.Events/len(events))
		fmt.Fprintf(tw, "%d\t%.0f\t%d\t\n", rs.Rules(), r.PerSecond(), r.Matches/rounds)
	}
	return tw.Flush()
}

// benchStage runs the detection stage as serve does (omamori's hospital rules and every
// behavioural detector) over the gateway's routine log, on one core.
func benchStage(e env) error {
	rs, _, err := rules.Load()
	if err != nil {
		return fmt.Errorf("bench detect: %w", err)
	}
	bc := behavior.DefaultConfig()
	stage, err := detect.New(rs, detect.Config{Behavior: &bc}, nil, nil)
	if err != nil {
		return fmt.Errorf("bench detect: %w", err)
	}
	d, err := decode.New("syslog", decode.Options{Location: time.UTC})
	if err != nil {
		return fmt.Errorf("bench detect: %w", err)
	}
	var events []event.Event
	for l := range bytes.Lines(scenario.Routine(100_000)) {
		ev := event.Event{Raw: bytes.TrimSuffix(l, []byte("\n")), Received: time.Now(), Tenant: "bench"}
		if err := d.Decode(&ev); err != nil {
			return fmt.Errorf("bench detect: decode the routine log: %w", err)
		}
		events = append(events, ev)
	}
	res := loop(func(i int) {
		stage.Observe(uint64(i), 0, &events[i%len(events)])
		if i%1000 == 0 {
			stage.Take()
		}
	})
	fmt.Fprintf(e.stdout, "detect stage (hospital rules and behavioural detectors, routine gateway log): %.0f events/s on one core, %d allocs/event\n",
		float64(res.n)/res.elapsed.Seconds(), res.allocs/uint64(res.n))
	return nil
}
