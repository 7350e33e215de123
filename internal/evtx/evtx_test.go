package evtx

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/omamori-project/omamori/internal/shareddata"
)

// update makes the golden tests rewrite their files: go test ./internal/evtx -update.
var update = flag.Bool("update", false, "rewrite golden files")

// lines is a Sink that writes each leaf as a line: "elem path = value".
type lines struct{ b []byte }

func (l *lines) Leaf(path []byte, elem int32, value string) {
	l.b = fmt.Appendf(l.b, "%d %s = %q\n", elem, path, value)
}

// anydesk returns the SigmaHQ regression file of a Sysmon file event: one chunk, five records.
func anydesk(t testing.TB) string {
	t.Helper()
	return shareddata.Path(t, "sigma/regression_data/rules/windows/file/file_event/file_event_win_anydesk_artefact/0b9ad457-2554-44c1-82c2-d56a99c42377.evtx")
}

// TestGolden compares the leaves of two files of the regression data with golden files: what
// package decode makes events of.
func TestGolden(t *testing.T) {
	for _, tc := range []struct{ name, path string }{
		{"file_event_win_anydesk_artefact", "file/file_event/file_event_win_anydesk_artefact"},
		{"win_security_susp_scheduled_task_delete_or_disable", "builtin/security/win_security_susp_scheduled_task_delete_or_disable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, _ := filepath.Glob(filepath.Join(shareddata.Path(t, "sigma/regression_data/rules/windows", tc.path), "*.evtx"))
			if len(files) != 1 {
				t.Fatalf("%d .evtx files for %s, want 1", len(files), tc.name)
			}
			f, err := os.Open(files[0])
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r := NewReader(f)
			var got lines
			for n := 1; ; n++ {
				mark := len(got.b)
				got.b = fmt.Appendf(got.b, "# record %d\n", n)
				_, err := r.Next(&got)
				if errors.Is(err, io.EOF) {
					got.b = got.b[:mark]
					break
				}
				if err != nil {
					t.Fatalf("Next(%s) = %v", files[0], err)
				}
			}
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, got.b, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("read golden file (run with -update to create it): %v", err)
			}
			if diff := cmp.Diff(string(want), string(got.b)); diff != "" {
				t.Errorf("leaves of %s differ from %s (-want +got):\n%s", files[0], golden, diff)
			}
		})
	}
}

// TestDamaged builds a file of three chunks from a real one, breaks the first chunk's
// magic and a record of the second, and wants the reader to report both and go on.
func TestDamaged(t *testing.T) {
	data, err := os.ReadFile(anydesk(t))
	if err != nil {
		t.Fatal(err)
	}
	chunk := data[fileHeaderSize : fileHeaderSize+chunkSize]
	var file []byte
	file = append(file, data[:fileHeaderSize]...)
	for range 3 {
		file = append(file, chunk...)
	}
	file[fileHeaderSize] = 'X'                          // chunk 1: bad magic
	file[fileHeaderSize+chunkSize+chunkHeader+1] = 0x77 // chunk 2: first record's magic
	r := NewReader(bytes.NewReader(file))
	var events, errs int
	for {
		_, err := r.Next(&lines{})
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if _, ok := errors.AsType[*SyntaxError](err); !ok {
				t.Fatalf("Next = %v, want a syntax error", err)
			}
			errs++
			continue
		}
		events++
	}
	if events != 5 || errs != 2 {
		t.Errorf("damaged file: %d events, %d errors; want 5 events (chunk 3), 2 errors", events, errs)
	}
}

// FuzzReader reads binary files: the regression data's smallest .evtx files seed it. Every
// error must be a *SyntaxError, and the reader must come to the end.
func FuzzReader(f *testing.F) {
	var files []string
	if dir, ok := shareddata.Optional(f, "sigma/regression_data/rules/windows"); ok {
		files, _ = filepath.Glob(filepath.Join(dir, "*", "*", "*.evtx"))
	}
	for _, p := range files[:min(len(files), 4)] {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		// The first records of the first chunk are where the templates are: keep the seeds
		// small so the fuzzer spends its time there.
		f.Add(data[:min(len(data), fileHeaderSize+8192)])
		f.Add(data)
	}
	f.Add([]byte("ElfFile\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for range 100000 {
			_, err := r.Next(&lines{})
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				if _, ok := errors.AsType[*SyntaxError](err); !ok {
					t.Fatalf("Next = %v, not a *evtx.SyntaxError", err)
				}
			}
		}
		t.Fatalf("reader of %d bytes did not end", len(data))
	})
}
