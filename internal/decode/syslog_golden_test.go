package decode

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/shareddata"
)

// Golden tests of the line-of-text decoders: testdata/<dir>/NAME.log holds one record a line,
// NAME.log.golden what omamori understood of each (ECS NDJSON, with event.ingested left out),
// or "# error: ..." for a record it rejects. go test -run TextGolden -update rewrites them.

// textGoldenOpts are the settings every golden file is made with: Japan time for zone-less
// timestamps, 2024 for year-less ones, and a fixed time of arrival.
var (
	textGoldenOpts     = Options{Location: time.FixedZone("JST", 9*3600), Year: 2024}
	textGoldenReceived = time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
)

// textRender decodes each line with dec and renders the results.
func textRender(dec Decoder, lines [][]byte) []byte {
	var out []byte
	var e event.Event
	for _, line := range lines {
		e.Reset()
		e.Raw = line
		e.Received = textGoldenReceived
		if err := dec.Decode(&e); err != nil {
			var de *Error
			if !errors.As(err, &de) {
				out = append(out, "# not a *decode.Error: "...)
			}
			out = append(out, "# error: "...)
			out = append(out, err.Error()...)
			out = append(out, '\n')
			continue
		}
		e.Received = time.Time{}
		out = event.AppendECS(out, &e)
	}
	return out
}

// textGolden compares got with the golden file, or writes it under -update.
func textGolden(t *testing.T, golden string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (-want +got):\n%s", golden, cmp.Diff(strings.Split(string(want), "\n"), strings.Split(string(got), "\n")))
	}
}

// textLines splits a file into its non-blank lines.
func textLines(b []byte) [][]byte {
	var lines [][]byte
	for line := range bytes.SplitSeq(b, []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) > 0 {
			lines = append(lines, line)
		}
	}
	return lines
}

func TestTextGolden(t *testing.T) {
	dirs := map[string]string{"syslog": "syslog", "sshd": "syslog", "linux": "syslog", "fortigate": "fortigate", "cef": "cef"}
	n := 0
	for dir, format := range dirs {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.log"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			n++
			t.Run(dir+"/"+filepath.Base(path), func(t *testing.T) {
				in, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				dec, err := New(format, textGoldenOpts)
				if err != nil {
					t.Fatal(err)
				}
				textGolden(t, path+".golden", textRender(dec, textLines(in)))
			})
		}
	}
	if n < 4 {
		t.Fatalf("found %d golden inputs under testdata/{syslog,sshd,fortigate,cef}, want at least 4", n)
	}
}

// TestTextGoldenLoghub renders the first line of every template of the loghub samples, read
// from the shared data and chosen with their structured CSV.
func TestTextGoldenLoghub(t *testing.T) {
	for _, c := range []struct{ dir, log, golden string }{
		{"OpenSSH", "OpenSSH_2k.log", "testdata/sshd/loghub_templates.golden"},
		{"Linux", "Linux_2k.log", "testdata/linux/loghub_templates.golden"},
	} {
		t.Run(c.dir, func(t *testing.T) {
			dir := shareddata.Path(t, "syslog/loghub/"+c.dir)
			raw, err := os.ReadFile(filepath.Join(dir, c.log))
			if err != nil {
				t.Fatal(err)
			}
			lines := bytes.Split(raw, []byte{'\n'})
			seen := map[string]bool{}
			var pick [][]byte
			for i, row := range loghubCSV(t, filepath.Join(dir, c.log+"_structured.csv")) {
				if !seen[row["EventId"]] {
					seen[row["EventId"]] = true
					pick = append(pick, bytes.TrimSuffix(lines[i], []byte{'\r'}))
				}
			}
			dec, err := New("syslog", textGoldenOpts)
			if err != nil {
				t.Fatal(err)
			}
			out := textRender(dec, pick)
			if bytes.Contains(out, []byte("# error")) {
				t.Errorf("a loghub line was rejected:\n%s", out)
			}
			textGolden(t, c.golden, out)
		})
	}
}
