package decode

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/shareddata"
)

// TestZeekStratosphere decodes every Stratosphere Zeek log: no errors, and one event per
// line that is not a header.
func TestZeekStratosphere(t *testing.T) {
	dir := shareddata.Path(t, "zeek", "stratosphere")
	logs, _ := filepath.Glob(filepath.Join(dir, "*", "*.log"))
	if len(logs) == 0 {
		t.Fatalf("no logs in %s", dir)
	}
	for _, p := range logs {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		for line := range bytes.Lines(data) {
			if len(bytes.TrimSpace(line)) > 0 && line[0] != '#' {
				want++
			}
		}
		_, events, errs := jsonRender(t, p, "")
		if events != want || errs != 0 {
			t.Errorf("decode %s: %d events, %d errors; want %d events, 0 errors", p, events, errs, want)
		}
	}
}

// TestZeekGolden compares the first records of each Stratosphere log and of RITA's JSON and
// TSV logs with golden files.
func TestZeekGolden(t *testing.T) {
	root := shareddata.Path(t, "zeek")
	var files []string
	for _, pat := range []string{"stratosphere/*/*.log", "rita/test_data/json_with_all_fields/*.log",
		"rita/test_data/proxy/conn.log", "rita/test_data/proxy/http.log", "rita/test_data/proxy/ssl.log",
		"rita/test_data/proxy/dns.log"} {
		m, _ := filepath.Glob(filepath.Join(root, pat))
		files = append(files, m...)
	}
	for _, p := range files {
		rel, _ := filepath.Rel(root, p)
		name := strings.ReplaceAll(rel, string(filepath.Separator), "_")
		t.Run(name, func(t *testing.T) {
			got, _, _ := jsonRenderN(t, p, "", 12)
			jsonGolden(t, filepath.Join("testdata", "zeek", "real", name+".golden"), got)
		})
	}
}

// TestZeekRITA decodes every RITA log, plain or gzipped, TSV or JSON, with auto-detection,
// and wants no errors.
func TestZeekRITA(t *testing.T) {
	root := shareddata.Path(t, "zeek", "rita", "test_data")
	total := 0
	err := filepath.WalkDir(root, func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		if !strings.HasSuffix(p, ".log") && !strings.HasSuffix(p, ".log.gz") ||
			strings.Contains(filepath.Base(p), "conn-summary") { // a text report, not a log
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		var r io.Reader = bufio.NewReader(f)
		if strings.HasSuffix(p, ".gz") {
			zr, err := gzip.NewReader(r)
			if err != nil {
				return err
			}
			r = zr
		}
		rd, format, err := NewReader(r, "", Options{}, 1<<20)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if format != "zeek" && format != "zeek-json" {
			t.Errorf("Detect(%s) = %q, want zeek or zeek-json", p, format)
			return nil
		}
		var e event.Event
		for {
			err := rd.Next(&e)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Errorf("decode %s: %v", p, err)
				return nil
			}
			total++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d events", total)
}

func TestZeekErrors(t *testing.T) {
	tests := []struct {
		in   string
		want Reason
	}{
		{"1.0\tC1\t10.0.0.1", ReasonSyntax}, // no header
	}
	for _, tt := range tests {
		d := newZeekDecoder(Options{})
		e := event.Event{Raw: []byte(tt.in)}
		if err := d.Decode(&e); ReasonOf(err) != tt.want {
			t.Errorf("Decode(%q) = %v, want reason %s", tt.in, err, tt.want)
		}
	}
	d := newZeekDecoder(Options{})
	for _, h := range []string{"#separator \\x09", "#path\tconn", "#fields\tts\tuid\tid.orig_h"} {
		e := event.Event{Raw: []byte(h)}
		if err := d.Decode(&e); !errors.Is(err, ErrSkip) {
			t.Fatalf("Decode(%q) = %v, want ErrSkip", h, err)
		}
	}
	for in, want := range map[string]Reason{
		"1.5\tC1":                  ReasonSyntax,
		"1.5\tC1\t10.0.0.1\textra": ReasonSyntax,
		"soon\tC1\t10.0.0.1":       ReasonTimestamp,
	} {
		e := event.Event{Raw: []byte(in)}
		if err := d.Decode(&e); ReasonOf(err) != want {
			t.Errorf("Decode(%q) = %v, want reason %s", in, err, want)
		}
	}
	e := event.Event{Raw: []byte("1.5\tC\\x09x\t10.0.0.1")}
	if err := d.Decode(&e); err != nil {
		t.Fatalf("Decode(escaped) = %v", err)
	}
	if v, _ := e.Get(event.K("zeek.session_id")); v != "C\tx" {
		t.Errorf("Decode(escaped) uid = %q, want %q", v, "C\tx")
	}
}
