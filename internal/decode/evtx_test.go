package decode

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omamori-project/omamori/internal/event"
)

// evtxEvents decodes a whole file in the given format, failing the test on any error.
func evtxEvents(t *testing.T, path, format string) []*event.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, _, err := NewReader(f, format, Options{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []*event.Event
	var e event.Event
	for {
		err := r.Next(&e)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Errorf("decode %s: %v", path, err)
			continue
		}
		out = append(out, e.Clone())
	}
}

// TestEVTXTwins decodes every .evtx file of Sigma's regression data and its .json twin
// (the same events rendered by evtx_dump) and wants the same events, but for the format's
// name, the raw bytes, time below the microsecond, which the JSON rendering cuts off, and
// trailing spaces, which evtx_dump trims from values (Sysmon's CommandLine often ends in
// one) and the .evtx reader keeps, as Windows shows them.
func TestEVTXTwins(t *testing.T) {
	files := winRegressionFiles(t, ".evtx")
	pairs, events, trimmed := 0, 0, 0
	for _, p := range files {
		twin := strings.TrimSuffix(p, ".evtx") + ".json"
		if _, err := os.Stat(twin); err != nil {
			t.Errorf("%s has no JSON twin", p)
			continue
		}
		pairs++
		bin := evtxEvents(t, p, "evtx")
		js := evtxEvents(t, twin, "evtx-json")
		if len(bin) != len(js) || len(bin) == 0 {
			t.Errorf("decode %s: %d events, its JSON twin %d", p, len(bin), len(js))
			continue
		}
		events += len(bin)
		for i := range bin {
			b, j := bin[i], js[i]
			b.Format, b.Raw, j.Format, j.Raw = "", nil, "", nil
			b.Time = b.Time.Truncate(time.Microsecond)
			for k := range b.Fields {
				if k < len(j.Fields) && b.Fields[k].Value != j.Fields[k].Value &&
					strings.TrimRight(b.Fields[k].Value, " ") == j.Fields[k].Value {
					b.Fields[k].Value = j.Fields[k].Value
					trimmed++
				}
			}
			if diff := cmp.Diff(evtxLines(j), evtxLines(b)); diff != "" {
				t.Errorf("%s event %d differs from its JSON twin (-json +evtx):\n%s", p, i, diff)
				break
			}
		}
	}
	t.Logf("%d pairs, %d events, the same but for %d values with trailing spaces", pairs, events, trimmed)
	if pairs != 96 {
		t.Errorf("compared %d pairs, want all 96", pairs)
	}
}

// evtxLines renders e in ECS JSON with one field a line, for readable differences.
func evtxLines(e *event.Event) string {
	return strings.ReplaceAll(string(event.AppendECS(nil, e)), `,"`, ",\n\"")
}

// TestEVTXGolden compares two .evtx files of the regression data with golden files.
func TestEVTXGolden(t *testing.T) {
	for _, w := range []string{"win_security_susp_scheduled_task_delete_or_disable", "file_event_win_anydesk_artefact"} {
		var p string
		for _, f := range winRegressionFiles(t, ".evtx") {
			if strings.Contains(f, w) {
				p = f
			}
		}
		if p == "" {
			t.Fatalf("no .evtx file for %s", w)
		}
		got, _, _ := jsonRender(t, p, "")
		jsonGolden(t, "testdata/evtx/"+w+".golden", got)
	}
}
