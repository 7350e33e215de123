package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
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
that did not compile, with the reason; the records that could not be read (dead
letters, which no rule saw), as 'omamori decode' reports them: the first ten of each
file with their line and reason, and a line per file with its counts by reason; and a
summary with the dead letters of all files and a table of matches by severity.

Each file's line also says how many of its events met at least one rule's log source (a
Windows channel, a dataset). A file whose events met none gets a warning that names the
format it was read as and the formats that would fit: no rule could have matched it, so
its zeros mean nothing.

Flags:

	-rules DIR
		a folder of Sigma rules, read recursively, such as a SigmaHQ checkout's
		rules folder. May be given more than once. omamori's own hospital rules
		(VPN appliance attacks, RDP from the VPN, mass encryption) are always in.
	-format F
		the format of the files; by default it is detected from each file's first
		bytes. One of: ` + strings.Join(decode.Names(), ", ") + `.

Exit status:

	0	every file was read, and every file with events had events some rule could see
	1	an error
	4	the events of some file met no rule's log source (see the warning)
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

	sc := scanner{out: bufio.NewWriterSize(e.stdout, 256<<10), stderr: e.stderr, rs: rs, m: rs.NewMatcher(), corr: rs.NewCorrelator(),
		bySeverity: map[severity.Level]int{}, byRule: map[string]int{}}
	for _, name := range flags.Args() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := sc.file(ctx, name, *format, e.stdin); err != nil {
			return err
		}
	}
	if err := sc.out.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "%d events scanned, %d of them met a rule's log source, %d dead letters in %d of %d files\n",
		sc.events, sc.met, sc.dead, sc.deadFiles, flags.NArg())
	if sc.dead > 0 {
		fmt.Fprintln(e.stderr, "hint: no rule saw the dead letters; 'omamori decode FILE' lists every one with its reason")
	}
	if len(sc.unseen) > 0 {
		fmt.Fprintf(e.stderr, "warning: no rule could see the events of %d of %d files: the table counts only the others\n", len(sc.unseen), flags.NArg())
	}
	writeSummary(e.stderr, sc.bySeverity, sc.byRule)
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(sc.unseen) > 0 {
		return exitStatus{hint(fmt.Errorf("scan: the events of %s met no rule's log source: no rule could match them, and the zeros above say nothing about them",
			strings.Join(sc.unseen, ", ")), "read the warning above for the format that fits, and scan again with -format"), statusNoCoverage}
	}
	return nil
}

// deadShown is how many dead letters of a file scan prints one by one; the file's counts by
// reason cover the rest.
const deadShown = 10

// scanner runs the rules over the files of one scan and keeps its counts.
type scanner struct {
	out    *bufio.Writer
	stderr io.Writer
	rs     *sigma.Ruleset
	m      *sigma.Matcher
	corr   *sigma.Correlator

	bySeverity   map[severity.Level]int
	byRule       map[string]int
	events, dead int
	met          int      // events that met at least one rule's log source
	unseen       []string // files with events none of which met one
	deadFiles    int      // files with at least one dead letter
	buf          []byte
	ms           []sigma.Match
}

// file scans one file, and reports on standard error what it could not read.
func (sc *scanner) file(ctx context.Context, name, format string, stdin io.Reader) error {
	f, err := openInput(name, stdin)
	if err != nil {
		return err
	}
	defer f.Close()
	rd, err := decode.Decompress(f)
	if err != nil {
		return fmt.Errorf("scan %s: %w", name, err)
	}
	dr, format, err := decode.NewReader(rd, format, decode.Options{}, 0)
	if err != nil {
		return fmt.Errorf("scan %s: %w", name, err)
	}
	var ev event.Event
	events, dead := 0, map[decode.Reason]int{}
	cov := coverage{covers: sc.rs.Covers}
	for ctx.Err() == nil {
		err := dr.Next(&ev)
		if errors.Is(err, io.EOF) {
			break
		}
		if de, ok := errors.AsType[*decode.Error](err); ok {
			if n := sumCounts(dead); n < deadShown {
				fmt.Fprintf(sc.stderr, "%s: %v\n", name, de)
			}
			dead[de.Reason]++
			continue
		}
		if err != nil {
			return fmt.Errorf("scan %s: %w", name, err)
		}
		events++
		cov.observe(&ev)
		sc.ms = sc.m.Match(&ev, sc.ms[:0])
		for _, mt := range sc.ms {
			sc.count(mt.Rule)
			sc.buf = appendMatch(sc.buf[:0], name, mt.Rule, &ev)
			sc.out.Write(sc.buf)
		}
		for _, cm := range sc.corr.Observe(sc.ms, sc.rs) {
			sc.count(cm.Rule)
			sc.buf = appendMatch(sc.buf[:0], name, cm.Rule, nil)
			sc.out.Write(sc.buf)
		}
	}
	n := sumCounts(dead)
	fmt.Fprintf(sc.stderr, "%s: %d events, %d met a rule's log source, %d dead letters (format %s)", name, events, cov.met, n, format)
	if n > 0 {
		reasons := slices.Sorted(maps.Keys(dead))
		for i, r := range reasons {
			sep := ", "
			if i == 0 {
				sep = ": "
			}
			fmt.Fprintf(sc.stderr, "%s%d %s", sep, dead[r], r)
		}
		if n > deadShown {
			fmt.Fprintf(sc.stderr, " (%d not shown)", n-deadShown)
		}
		sc.deadFiles++
	}
	fmt.Fprintln(sc.stderr)
	if cov.warn(sc.stderr, name, format, events) {
		sc.unseen = append(sc.unseen, name)
	}
	sc.met += cov.met
	sc.events += events
	sc.dead += n
	return ctx.Err()
}

func (sc *scanner) count(r sigma.RuleInfo) {
	sc.bySeverity[r.Level]++
	sc.byRule[string(r.Level)+"\x00"+r.Title]++
}

func sumCounts[K comparable](m map[K]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
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
