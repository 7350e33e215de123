package decode

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omamori-project/omamori/internal/event"
)

// jsonRender decodes the stream in path as format and renders every event with AppendECS,
// Received zeroed, and every error as a line "# error: ...". It returns the rendering, the
// number of events and the number of errors.
func jsonRender(t testing.TB, path, format string) (out []byte, events, errs int) {
	return jsonRenderN(t, path, format, -1)
}

// jsonRenderN is jsonRender that stops rendering (but not counting) after limit records.
func jsonRenderN(t testing.TB, path, format string, limit int) (out []byte, events, errs int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, _, err := NewReader(f, format, Options{Location: time.UTC}, 0)
	if err != nil {
		t.Fatalf("NewReader(%s, %q): %v", path, format, err)
	}
	var e event.Event
	for {
		err := r.Next(&e)
		if errors.Is(err, io.EOF) {
			return out, events, errs
		}
		if de, ok := errors.AsType[*Error](err); ok {
			errs++
			if limit >= 0 && events+errs > limit {
				continue
			}
			out = append(out, "# error: "...)
			out = append(out, de.Error()...)
			out = append(out, '\n')
			continue
		}
		if err != nil {
			t.Fatalf("Next(%s) = %v", path, err)
		}
		events++
		if limit >= 0 && events+errs > limit {
			continue
		}
		e.Received = time.Time{}
		out = event.AppendECS(out, &e)
	}
}

// jsonGolden compares got with the golden file, or rewrites it under -update.
func jsonGolden(t *testing.T, golden string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("decoded events differ from %s (-want +got):\n%s", golden,
			cmp.Diff(string(want), string(got)))
	}
}

// TestGoldenWritten decodes the samples written for this package: each file in
// testdata/<dir>/ beside its .golden, in the dir's format ("auto" detects it per file).
func TestGoldenWritten(t *testing.T) {
	dirs := []struct{ dir, format string }{
		{"json", "json"}, {"eve", "eve"}, {"winlogbeat", "winlogbeat"}, {"ehr", "ehr"},
		{"zeek", "auto"}, {"evtxjson", "evtx-json"},
	}
	for _, d := range dirs {
		inputs, _ := filepath.Glob(filepath.Join("testdata", d.dir, "*"))
		n := 0
		for _, in := range inputs {
			if st, err := os.Stat(in); err != nil || st.IsDir() || filepath.Ext(in) == ".golden" {
				continue
			}
			n++
			t.Run(d.dir+"/"+filepath.Base(in), func(t *testing.T) {
				got, _, _ := jsonRender(t, in, d.format)
				jsonGolden(t, in+".golden", got)
			})
		}
		if n == 0 {
			t.Errorf("no samples in testdata/%s", d.dir)
		}
	}
}
