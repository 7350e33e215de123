package decode

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/shareddata"
)

// jsonBenchLines returns the non-blank lines of a file that decode without error in format.
func jsonBenchLines(b *testing.B, path, format string) [][]byte {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Skipf("bench input: %v", err)
	}
	d, err := New(format, Options{})
	if err != nil {
		b.Fatal(err)
	}
	var lines [][]byte
	for line := range bytes.Lines(data) {
		line = bytes.TrimRight(line, "\r\n")
		e := event.Event{Raw: line}
		if len(line) > 0 && d.Decode(&e) == nil {
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		b.Fatalf("no decodable lines in %s", path)
	}
	return lines
}

// jsonBenchDecode decodes the lines round and round with one decoder and one event, as a
// listener does: ns/op and allocs/op are per event.
func jsonBenchDecode(b *testing.B, format string, lines [][]byte) {
	d, err := New(format, Options{})
	if err != nil {
		b.Fatal(err)
	}
	var e event.Event
	var n int64
	for _, l := range lines {
		n += int64(len(l))
	}
	b.SetBytes(n / int64(len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		e.Reset()
		e.Raw = lines[i%len(lines)]
		if err := d.Decode(&e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeJSON(b *testing.B) {
	jsonBenchDecode(b, "json", jsonBenchLines(b, "testdata/json/ecs.json", "json"))
}

func BenchmarkDecodeEVE(b *testing.B) {
	jsonBenchDecode(b, "eve", jsonBenchLines(b, "testdata/eve/suricata.json", "eve"))
}

func BenchmarkDecodeEHR(b *testing.B) {
	jsonBenchDecode(b, "ehr", jsonBenchLines(b, "testdata/ehr/access.json", "ehr"))
}

func BenchmarkDecodeWinlogbeat(b *testing.B) {
	jsonBenchDecode(b, "winlogbeat", jsonBenchLines(b, "testdata/winlogbeat/winlogbeat.json", "winlogbeat"))
}

func BenchmarkDecodeEVTXJSON(b *testing.B) {
	jsonBenchDecode(b, "evtx-json", jsonBenchLines(b, "testdata/evtxjson/oneline.json", "evtx-json"))
}

func BenchmarkDecodeZeekJSON(b *testing.B) {
	p := shareddata.Path(b, "zeek", "rita", "test_data", "json_with_all_fields", "conn.log")
	jsonBenchDecode(b, "zeek-json", jsonBenchLines(b, p, "zeek-json"))
}

// BenchmarkDecodeZeek decodes the data lines of a Stratosphere conn.log after its header.
func BenchmarkDecodeZeek(b *testing.B) {
	data, err := os.ReadFile(shareddata.Path(b, "zeek", "stratosphere", "005-zeek-scenario-malicious", "conn.log"))
	if err != nil {
		b.Fatal(err)
	}
	d := newZeekDecoder(Options{})
	var lines [][]byte
	for line := range bytes.Lines(data) {
		line = bytes.TrimRight(line, "\r\n")
		e := event.Event{Raw: line}
		if err := d.Decode(&e); err == nil {
			lines = append(lines, line)
		}
	}
	var e event.Event
	var n int64
	for _, l := range lines {
		n += int64(len(l))
	}
	b.SetBytes(n / int64(len(lines)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e.Reset()
		e.Raw = lines[i%len(lines)]
		if err := d.Decode(&e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadEVTX reads a whole .evtx file; ns/op is per file, and the events per file
// are reported.
func BenchmarkReadEVTX(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join(shareddata.Path(b, "sigma", "regression_data",
		"rules", "windows", "file", "file_event", "file_event_win_anydesk_artefact"), "*.evtx"))
	if len(files) == 0 {
		b.Skip("no .evtx bench input")
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var e event.Event
	events := 0
	for b.Loop() {
		r, _, err := NewReader(bytes.NewReader(data), "evtx", Options{}, 0)
		if err != nil {
			b.Fatal(err)
		}
		for {
			err := r.Next(&e)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			events++
		}
	}
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}
