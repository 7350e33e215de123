package decode

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/shareddata"
)

// Conformance tests of the firewall and VPN decoders: testdata/conformance/<vendor>.txt holds
// lines as the vendor documents them (message catalogues, syslog field descriptions), each
// followed by the ECS fields it must give, written from that documentation and the field map
// (docs/field-maps.md), not from omamori's output:
//
//	# where the line comes from
//	<166>May 01 2024 10:20:30 asa01 : %ASA-4-106023: Deny tcp src outside:198.51.100.10/4312 ...
//	  source.ip = 198.51.100.10
//	  event.type = connection, denied   (every value, in order)
//	  !host.name                        (must be absent)
//	  error = syntax                    (the record is a dead letter for this reason)
//
// Records are decoded by the syslog decoder, as a listener does, with the golden options
// (JST, 2024) and time of arrival.

// conformanceCase is one record of a conformance file and what it must give.
type conformanceCase struct {
	file   string
	line   int
	raw    string
	want   [][2]string // field, value ("a, b" for every value of a repeated field)
	absent []string
	reason Reason // non-empty: the record must be rejected for this reason
}

// conformanceCases reads every conformance file.
func conformanceCases(t testing.TB) []conformanceCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "conformance", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no conformance files under testdata/conformance (%v)", err)
	}
	var cases []conformanceCase
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			switch {
			case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
			case strings.HasPrefix(line, "  "):
				if len(cases) == 0 {
					t.Fatalf("%s:%d: an assertion before any record", path, n)
				}
				c := &cases[len(cases)-1]
				a := strings.TrimSpace(line)
				if name, ok := strings.CutPrefix(a, "!"); ok {
					c.absent = append(c.absent, name)
					continue
				}
				k, v, ok := strings.Cut(a, " = ")
				if !ok {
					t.Fatalf("%s:%d: want \"field = value\" or \"!field\", got %q", path, n, a)
				}
				if k == "error" {
					c.reason = Reason(v)
					continue
				}
				c.want = append(c.want, [2]string{k, v})
			default:
				cases = append(cases, conformanceCase{file: filepath.Base(path), line: n, raw: line})
			}
		}
	}
	return cases
}

// fieldValues returns every value e has for the ECS field name, joined by ", ".
func fieldValues(e *event.Event, name string) (string, bool) {
	if _, ok := event.LookupCommon(name); ok {
		return e.Value(name)
	}
	k := event.K(name)
	var vs []string
	for _, f := range e.Fields {
		if f.Key == k {
			vs = append(vs, f.Value)
		}
	}
	return strings.Join(vs, ", "), len(vs) > 0
}

func TestConformance(t *testing.T) {
	perFile := map[string]int{}
	for _, c := range conformanceCases(t) {
		perFile[c.file]++
		e, err := textDecode(t, "syslog", textGoldenOpts, textGoldenReceived, []byte(c.raw))
		if c.reason != "" {
			if got := ReasonOf(err); err == nil || got != c.reason {
				t.Errorf("%s:%d: Decode(%q) = %v, want reason %s", c.file, c.line, c.raw, err, c.reason)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s:%d: Decode(%q) = %v", c.file, c.line, c.raw, err)
			continue
		}
		for _, w := range c.want {
			if got, _ := fieldValues(e, w[0]); got != w[1] {
				t.Errorf("%s:%d: %s = %q, want %q", c.file, c.line, w[0], got, w[1])
			}
		}
		for _, name := range c.absent {
			if got, ok := fieldValues(e, name); ok {
				t.Errorf("%s:%d: %s = %q, want none", c.file, c.line, name, got)
			}
		}
	}
	t.Logf("conformance records per file: %v", perFile)
}

// TestHostProcessProperty checks over every text record under testdata (the conformance
// corpus, the golden inputs) and the loghub samples that no decoder names as host.name or
// process.name something that is not a host or a process: the value must be shaped like one,
// and be written in the record.
func TestHostProcessProperty(t *testing.T) {
	var records []string
	for _, c := range conformanceCases(t) {
		records = append(records, c.raw)
	}
	for _, dir := range []string{"syslog", "sshd", "linux", "fortigate", "cef"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.log"))
		for _, path := range files {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range textLines(b) {
				records = append(records, string(l))
			}
		}
	}
	if dir, ok := shareddata.Optional(t, "syslog/loghub"); ok {
		for _, name := range []string{"OpenSSH/OpenSSH_2k.log", "Linux/Linux_2k.log"} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err == nil {
				for _, l := range textLines(b) {
					records = append(records, string(bytes.TrimSuffix(l, []byte{'\r'})))
				}
			}
		}
	}
	checked := 0
	for _, raw := range records {
		e, err := textDecode(t, "syslog", textGoldenOpts, textGoldenReceived, []byte(raw))
		if err != nil {
			continue
		}
		checked++
		if msg := hostProcessViolation(e, raw); msg != "" {
			t.Errorf("Decode(%q): %s", raw, msg)
		}
	}
	if checked < 50 {
		t.Fatalf("checked %d records, want at least 50", checked)
	}
}

// hostProcessViolation says what is wrong with e's host.name and process.name, or "".
func hostProcessViolation(e *event.Event, raw string) string {
	if text, reason := textOf([]byte(raw)); reason == "" {
		raw = text // a Shift_JIS record, read as UTF-8
	}
	if e.Host != "" && (!hostLike(e.Host) || !strings.Contains(raw, e.Host)) {
		return "host.name " + quoteShort(e.Host) + " is not a host of the record"
	}
	if e.Process != "" && (!processLike(e.Process) || !strings.Contains(raw, e.Process)) {
		return "process.name " + quoteShort(e.Process) + " is not a process of the record"
	}
	return ""
}

// TestTimeFromReceipt checks that a record whose time cannot be read keeps its time of arrival
// but says so, and that one with a time of its own is not marked.
func TestTimeFromReceipt(t *testing.T) {
	received := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		raw    string
		tagged bool
		time   time.Time
	}{
		{"<14>no header at all", true, received},
		{"<14>1 - host app - - - no RFC 5424 time", true, received},
		{"<166>May 01 2026 09:24:32Z: %FTD-6-113005: AAA user authentication Rejected : reason = AAA failure : server = 10.1.1.10 : user = ***** : user IP = 198.51.100.7",
			false, time.Date(2026, 5, 1, 9, 24, 32, 0, time.UTC)},
		{"<30>2023:04:28-00:50:54 utm ulogd[5180]: id=\"2001\" severity=\"info\" sys=\"SecureNet\" sub=\"packetfilter\" name=\"Packet dropped\"",
			false, time.Date(2023, 4, 28, 0, 50, 54, 0, textGoldenOpts.Location)},
	}
	for _, tt := range tests {
		e, err := textDecode(t, "syslog", textGoldenOpts, received, []byte(tt.raw))
		if err != nil {
			t.Errorf("Decode(%q) = %v", tt.raw, err)
			continue
		}
		if got := TimeFromReceipt(e); got != tt.tagged || !e.Time.Equal(tt.time) {
			t.Errorf("Decode(%q): time %v, TimeFromReceipt %v; want %v, %v", tt.raw, e.Time, got, tt.time, tt.tagged)
		}
		if tags, _ := fieldValues(e, "tags"); slices.Contains(strings.Split(tags, ", "), TagTimeFromReceipt) != tt.tagged {
			t.Errorf("Decode(%q): tags %q", tt.raw, tags)
		}
		if !e.Received.Equal(received) {
			t.Errorf("Decode(%q): event.ingested %v, want %v", tt.raw, e.Received, received)
		}
	}
}
