package decode

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/shareddata"
)

// BenchmarkDecodeText measures the line-of-text decoders per record (ns/op is per line) on
// real lines: the loghub OpenSSH and Linux samples, the FortiGate and CEF samples under
// testdata, and the Cisco ASA and PAN-OS conformance records. The event is reused, as a batch reuses its events.
func BenchmarkDecodeText(b *testing.B) {
	loghub := func(rel string) [][]byte {
		raw, err := os.ReadFile(shareddata.Path(b, rel))
		if err != nil {
			b.Fatal(err)
		}
		var lines [][]byte
		for _, l := range textLines(raw) {
			lines = append(lines, bytes.TrimSuffix(l, []byte{'\r'}))
		}
		return lines
	}
	testdata := func(rel string) [][]byte {
		raw, err := os.ReadFile(filepath.Join("testdata", rel))
		if err != nil {
			b.Fatal(err)
		}
		return textLines(raw)[:10] // the valid ones; the errors are at the end
	}
	conformance := func(file string) [][]byte {
		var lines [][]byte
		for _, c := range conformanceCases(b) {
			if c.file == file && c.reason == "" {
				lines = append(lines, []byte(c.raw))
			}
		}
		return lines
	}
	for _, c := range []struct {
		name, format string
		lines        func() [][]byte
	}{
		{"syslog/openssh", "syslog", func() [][]byte { return loghub("syslog/loghub/OpenSSH/OpenSSH_2k.log") }},
		{"syslog/linux", "syslog", func() [][]byte { return loghub("syslog/loghub/Linux/Linux_2k.log") }},
		{"fortigate", "fortigate", func() [][]byte { return testdata("fortigate/fortios7.log") }},
		{"cef", "cef", func() [][]byte { return testdata("cef/spec.log") }},
		{"cisco-asa", "syslog", func() [][]byte { return conformance("cisco_asa.txt") }},
		{"panos", "syslog", func() [][]byte { return conformance("panos.txt") }},
	} {
		b.Run(c.name, func(b *testing.B) {
			lines := c.lines()
			size := 0
			for _, l := range lines {
				size += len(l)
			}
			dec, err := New(c.format, Options{Location: time.UTC, Year: 2024})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size / len(lines)))
			b.ReportAllocs()
			var e event.Event
			received := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
			i := 0
			for b.Loop() {
				e.Reset()
				e.Raw = lines[i]
				e.Received = received // as a listener sets it
				if err := dec.Decode(&e); err != nil {
					b.Fatalf("Decode(%q) = %v", lines[i], err)
				}
				if i++; i == len(lines) {
					i = 0
				}
			}
		})
	}
}
