package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/rules"
	"github.com/omamori-project/omamori/internal/severity"
	"github.com/omamori-project/omamori/internal/sigma"
)

var scanCommand = command{
	name:    "scan",
	summary: "run Sigma rules over log files, offline",
	usage: `usage: omamori scan [-rules DIR]... [-format F] FILE...

Scan reads log files (EVTX, Windows event JSON, syslog, FortiGate, Zeek, ...) and runs
every Sigma rule under DIR over their events, as a forensic sweep of collected logs: the
way Hayabusa or Chainsaw are used after an incident. Rules are read as SigmaHQ publishes
them; DIR may be a checkout of github.com/SigmaHQ/sigma or any folder of .yml rules.

Standard output gets one line of JSON per match: the rule (id, title, level, ATT&CK
techniques) and the event in Elastic Common Schema form. Standard error gets the rules
that did not compile, with the reason, and a summary table of matches by severity.

Flags:

	-rules DIR
		a folder of Sigma rules, read recursively, such as a SigmaHQ checkout's
		rules folder. May be given more than once. omamori's own hospital rules
		(VPN appliance attacks, RDP from the VPN, mass encryption) are always in.
	-format F
		the format of the files; by default it is detected from each file's first
		bytes. One of: ` + strings.Join(decode.Names(), ", ") + `.
`,
	run: runScan,
}

type dirList []string

func (d *dirList) String() string     { return strings.Join(*d, ",") }
func (d *dirList) Set(v string) error { *d = append(*d, v); return nil }

func runScan(ctx context.Context, e env, flags *flag.FlagSet, args []string) error {
	var dirs dirList
	flags.Var(&dirs, "rules", "")
	format := flags.String("format", "auto", "")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() == 0 {
		return hint(errors.New("scan: no files given"), "omamori scan -rules sigma/rules Security.evtx")
	}
	// One set for all folders, so correlations may refer across them.
	rs, rep, err := rules.Load(dirs...)
	if err != nil {
		return err
	}
	for _, f := range rep.Failed {
		fmt.Fprintf(e.stderr, "rule not compiled: %v\n", f)
	}
	fmt.Fprintf(e.stderr, "%d rules compiled of %d\n", rep.Compiled, rep.Rules)

	out := bufio.NewWriterSize(e.stdout, 256<<10)
	defer out.Flush()
	m, corr := rs.NewMatcher(), rs.NewCorrelator()
	bySeverity := map[severity.Level]int{}
	byRule := map[string]int{}
	var buf []byte
	var ms []sigma.Match
	for _, name := range flags.Args() {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := openInput(name, e.stdin)
		if err != nil {
			return err
		}
		rd, err := decode.Decompress(f)
		if err != nil {
			f.Close()
			return fmt.Errorf("scan %s: %w", name, err)
		}
		dr, _, err := decode.NewReader(rd, *format, decode.Options{}, 0)
		if err != nil {
			f.Close()
			return fmt.Errorf("scan %s: %w", name, err)
		}
		var ev event.Event
		for ctx.Err() == nil {
			err := dr.Next(&ev)
			if errors.Is(err, io.EOF) {
				break
			}
			if _, ok := errors.AsType[*decode.Error](err); ok {
				continue
			}
			if err != nil {
				f.Close()
				return fmt.Errorf("scan %s: %w", name, err)
			}
			ms = m.Match(&ev, ms[:0])
			for _, mt := range ms {
				bySeverity[mt.Rule.Level]++
				byRule[string(mt.Rule.Level)+"\x00"+mt.Rule.Title]++
				buf = appendMatch(buf[:0], name, mt.Rule, &ev)
				out.Write(buf)
			}
			for _, cm := range corr.Observe(ms, rs) {
				bySeverity[cm.Rule.Level]++
				byRule[string(cm.Rule.Level)+"\x00"+cm.Rule.Title]++
				buf = appendMatch(buf[:0], name, cm.Rule, nil)
				out.Write(buf)
			}
		}
		f.Close()
	}
	if err := out.Flush(); err != nil {
		return err
	}
	writeSummary(e.stderr, bySeverity, byRule)
	return ctx.Err()
}

// writeSummary writes the matches by level, most severe first, and by rule within each level.
func writeSummary(w io.Writer, bySeverity map[severity.Level]int, byRule map[string]int) {
	levels := severity.All()
	slices.Reverse(levels)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tMATCHES")
	for _, l := range levels {
		fmt.Fprintf(tw, "%s\t%d\n", l, bySeverity[l])
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "SEVERITY\tMATCHES\tRULE")
	keys := make([]string, 0, len(byRule))
	for k := range byRule {
		keys = append(keys, k)
	}
	rank := func(k string) int { // most severe first, a level Sigma does not name last
		l, _, _ := strings.Cut(k, "\x00")
		return -severity.Level(l).Rank()
	}
	slices.SortFunc(keys, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	for _, k := range keys {
		l, title, _ := strings.Cut(k, "\x00")
		fmt.Fprintf(tw, "%s\t%d\t%s\n", l, byRule[k], title)
	}
	tw.Flush()
}

// appendMatch appends one NDJSON line: the file, the rule and, for a detection rule, the
// event in ECS form.
func appendMatch(dst []byte, file string, r sigma.RuleInfo, ev *event.Event) []byte {
	dst = append(dst, `{"file":`...)
	dst = event.AppendJSONString(dst, file)
	dst = append(dst, `,"rule":{"id":`...)
	dst = event.AppendJSONString(dst, r.ID)
	dst = append(dst, `,"title":`...)
	dst = event.AppendJSONString(dst, r.Title)
	dst = append(dst, `,"level":`...)
	dst = event.AppendJSONString(dst, string(r.Level))
	dst = append(dst, `,"techniques":[`...)
	for i, t := range r.Techniques() {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = event.AppendJSONString(dst, t)
	}
	dst = append(dst, ']', '}')
	if ev != nil {
		dst = append(dst, `,"event":`...)
		ecs := event.AppendECS(nil, ev)
		dst = append(dst, strings.TrimRight(string(ecs), "\n")...)
	}
	return append(dst, '}', '\n')
}
