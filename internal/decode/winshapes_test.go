package decode

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/omamori-project/omamori/internal/event"
)

// TestGoldenWindowsShapes decodes the same attack events (testdata/windows/README.md) in each
// shape Windows events are shipped in, detecting the format from the file as scan does, and
// compares them with the golden rendering.
func TestGoldenWindowsShapes(t *testing.T) {
	want := map[string]string{
		"wef.xml":                          "wef-xml",
		"wef-rendered.xml":                 "wef-xml",
		"nxlog.json":                       "nxlog",
		"nxlog-logstash.json":              "nxlog",
		"nxlog-syslog.log":                 "nxlog",
		"winlogbeat6.json":                 "winlogbeat6",
		"winlogbeat8.json":                 "winlogbeat",
		"log-analytics-securityevent.json": "log-analytics",
		"log-analytics-windowsevent.json":  "log-analytics",
		"log-analytics-event.json":         "log-analytics",
		"evtx.json":                        "evtx-json",
	}
	inputs, _ := filepath.Glob(filepath.Join("testdata", "windows", "*"))
	n := 0
	for _, in := range inputs {
		base := filepath.Base(in)
		if filepath.Ext(in) == ".golden" || base == "README.md" {
			continue
		}
		n++
		t.Run(base, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			if got := Detect(data[:min(len(data), 8<<10)]); got != want[base] {
				t.Errorf("Detect(%s) = %q, want %q", in, got, want[base])
			}
			got, events, errs := jsonRender(t, in, "auto")
			if errs > 0 || events == 0 {
				t.Errorf("%s: %d events, %d errors, want events and no errors", in, events, errs)
			}
			jsonGolden(t, in+".golden", got)
		})
	}
	if n != len(want) {
		t.Errorf("%d samples in testdata/windows, want %d", n, len(want))
	}
}

// TestWindowsPerRecord decodes every record of every shape with the "windows" decoder, as a
// live source of mixed shapes is read, and checks it comes out as the file's own reader makes
// it.
func TestWindowsPerRecord(t *testing.T) {
	for _, in := range []string{"nxlog.json", "nxlog-logstash.json", "nxlog-syslog.log",
		"winlogbeat6.json", "winlogbeat8.json", "log-analytics-windowsevent.json", "evtx.json"} {
		path := filepath.Join("testdata", "windows", in)
		want, _, _ := jsonRender(t, path, "auto")
		got, _, _ := jsonRender(t, path, "windows")
		if string(got) != string(want) {
			t.Errorf("%s read a record at a time by the windows decoder differs from its reader's:\n%s\nwant\n%s", in, got, want)
		}
	}
	// One rendered XML event on one line, as a WEF relay sends it.
	data, err := os.ReadFile(filepath.Join("testdata", "windows", "wef.xml"))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(data, []byte("\n"))
	var e event.Event
	e.Raw = lines[2]
	if err := newWinAnyDecoder(Options{}).Decode(&e); err != nil {
		t.Fatalf("Decode(%.60q) = %v", lines[2], err)
	}
	if id, _ := e.Get(winKeyEventID); id != "1102" || e.Format != "wef-xml" {
		t.Errorf("Decode(%.60q): event ID %q, format %q; want 1102, wef-xml", lines[2], id, e.Format)
	}
	e = event.Event{Raw: []byte(`{"hello":"world"}`)}
	if err := newWinAnyDecoder(Options{}).Decode(&e); ReasonOf(err) != ReasonUnknown {
		t.Errorf("Decode(%q) = %v, want reason %s", e.Raw, err, ReasonUnknown)
	}
}
