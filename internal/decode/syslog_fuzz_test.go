package decode

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/omamori-project/omamori/internal/event"
)

// The fuzz tests feed the line-of-text decoders arbitrary bytes: they must never panic, must
// report every failure as a *Error with a reason, and whatever they accept must be sane.

// textFuzzSeeds adds every line of the golden inputs in testdata/<dirs> to f.
func textFuzzSeeds(f *testing.F, dirs ...string) {
	n := 0
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.log"))
		for _, path := range files {
			b, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			for _, line := range textLines(b) {
				f.Add(line)
				n++
			}
		}
	}
	if n == 0 {
		f.Fatalf("no seeds under testdata/%v", dirs)
	}
}

// conformanceFuzzSeeds adds the records of the conformance files whose name starts with
// prefix (the vendor).
func conformanceFuzzSeeds(f *testing.F, prefix string) {
	n := 0
	for _, c := range conformanceCases(f) {
		if strings.HasPrefix(c.file, prefix) {
			f.Add([]byte(c.raw))
			n++
		}
	}
	if n == 0 {
		f.Fatalf("no conformance records in testdata/conformance/%s*", prefix)
	}
}

func textFuzz(f *testing.F, format string) {
	dec, err := New(format, textGoldenOpts)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var e event.Event
		e.Raw = bytes.Clone(raw)
		e.Received = textGoldenReceived
		err := dec.Decode(&e)
		if !bytes.Equal(e.Raw, raw) {
			t.Fatalf("Decode(%q) changed Raw to %q", raw, e.Raw)
		}
		if err != nil {
			var de *Error
			if !errors.As(err, &de) || de.Reason == "" {
				t.Fatalf("Decode(%q) = %v, want a *decode.Error with a reason", raw, err)
			}
			return
		}
		if e.Time.IsZero() {
			t.Errorf("Decode(%q): no time", raw)
		}
		switch e.Format {
		case "syslog", "fortigate", "cef", "cisco", "panos", "checkpoint", "sophos", "sonicwall", "pulse", "watchguard", "leef", "yamaha":
		default:
			t.Errorf("Decode(%q): format %q", raw, e.Format)
		}
		if format != "syslog" && e.Format != format {
			t.Errorf("Decode(%q) by %s: format %q", raw, format, e.Format)
		}
		if msg := hostProcessViolation(&e, string(raw)); msg != "" {
			t.Errorf("Decode(%q): %s", raw, msg)
		}
		if e.Severity > 7 || e.Facility > 23 {
			t.Errorf("Decode(%q): severity %d facility %d", raw, e.Severity, e.Facility)
		}
		for _, s := range []string{e.Message, e.Host, e.Process, e.User, e.Action, e.Category, e.Dataset, e.Protocol} {
			if !utf8.ValidString(s) {
				t.Errorf("Decode(%q): invalid UTF-8 %q", raw, s)
			}
		}
		for _, fl := range e.Fields {
			if !utf8.ValidString(fl.Key.String()) || !utf8.ValidString(fl.Value) {
				t.Errorf("Decode(%q): invalid UTF-8 in field %q=%q", raw, fl.Key, fl.Value)
			}
		}
		if out := event.AppendECS(nil, &e); !json.Valid(out) {
			t.Errorf("Decode(%q): ECS rendering is not JSON: %s", raw, out)
		}
	})
}

func FuzzSyslog(f *testing.F) {
	textFuzzSeeds(f, "syslog", "sshd", "fortigate", "cef")
	conformanceFuzzSeeds(f, "")
	textFuzz(f, "syslog")
}

func FuzzCisco(f *testing.F) {
	conformanceFuzzSeeds(f, "cisco")
	textFuzz(f, "cisco")
}

func FuzzPANOS(f *testing.F) {
	conformanceFuzzSeeds(f, "panos")
	textFuzz(f, "panos")
}

func FuzzFortiGate(f *testing.F) {
	textFuzzSeeds(f, "fortigate")
	textFuzz(f, "fortigate")
}

func FuzzCEF(f *testing.F) {
	textFuzzSeeds(f, "cef")
	textFuzz(f, "cef")
}
