package decode

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/shareddata"
)

// jsonSeedLines adds every line of the files matching pattern to the fuzz corpus.
func jsonSeedLines(f *testing.F, pattern string) {
	files, _ := filepath.Glob(pattern)
	if len(files) == 0 {
		f.Fatalf("no seed files match %s", pattern)
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for line := range bytes.Lines(data) {
			f.Add(bytes.TrimRight(line, "\r\n"))
		}
	}
}

// jsonFuzzDecode runs a record decoder on data and checks the contract: no panic, and an
// error is an *Error or ErrSkip.
func jsonFuzzDecode(t *testing.T, d Decoder, data []byte) error {
	e := event.Event{Raw: data}
	err := d.Decode(&e)
	if err != nil && !errors.Is(err, ErrSkip) {
		if _, ok := errors.AsType[*Error](err); !ok {
			t.Fatalf("Decode(%q) = %v, not a *decode.Error", data, err)
		}
	}
	if err == nil {
		event.AppendECS(nil, &e)
	}
	return err
}

// jsonFuzzStream reads all of data in format and checks that every error is an *Error.
func jsonFuzzStream(t *testing.T, format string, data []byte) {
	r, _, err := NewReader(bytes.NewReader(data), format, Options{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var e event.Event
	for range 100000 {
		err := r.Next(&e)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			if _, ok := errors.AsType[*Error](err); !ok {
				t.Fatalf("Next = %v, not a *decode.Error", err)
			}
			continue
		}
		event.AppendECS(nil, &e)
	}
	t.Fatalf("reader of %d bytes did not end", len(data))
}

// FuzzJSON checks the flattener against encoding/json: a record decodes without a syntax
// error exactly when it is valid JSON holding one object.
func FuzzJSON(f *testing.F) {
	jsonSeedLines(f, "testdata/json/*.json")
	d := newJSONDecoder(Options{})
	f.Fuzz(func(t *testing.T, data []byte) {
		err := jsonFuzzDecode(t, d, data)
		t1 := bytes.TrimLeft(data, " \t\r\n")
		valid := json.Valid(data) && len(t1) > 0 && t1[0] == '{'
		if syntax := ReasonOf(err) == ReasonSyntax; syntax == valid {
			t.Fatalf("Decode(%q) = %v, but json.Valid = %v", data, err, json.Valid(data))
		}
	})
}

func FuzzEVE(f *testing.F) {
	jsonSeedLines(f, "testdata/eve/*.json")
	d := newEVEDecoder(Options{})
	f.Fuzz(func(t *testing.T, data []byte) { jsonFuzzDecode(t, d, data) })
}

func FuzzEHR(f *testing.F) {
	jsonSeedLines(f, "testdata/ehr/*.json")
	d := newEHRDecoder(Options{})
	f.Fuzz(func(t *testing.T, data []byte) { jsonFuzzDecode(t, d, data) })
}

// FuzzZeek reads whole TSV streams (headers and all) and single Zeek JSON records.
func FuzzZeek(f *testing.F) {
	for _, p := range []string{"testdata/zeek/written.log"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	if dir, ok := shareddata.Optional(f, "zeek/stratosphere"); ok {
		logs, _ := filepath.Glob(filepath.Join(dir, "*", "*.log"))
		for _, p := range logs {
			data, _ := os.ReadFile(p)
			f.Add(data[:min(len(data), 4096)])
		}
	}
	if dir, ok := shareddata.Optional(f, "zeek/rita/test_data/json_with_all_fields"); ok {
		logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
		for _, p := range logs {
			data, _ := os.ReadFile(p)
			line, _, _ := bytes.Cut(data, []byte{'\n'})
			f.Add(line)
		}
	}
	zj := newZeekJSONDecoder(Options{})
	f.Fuzz(func(t *testing.T, data []byte) {
		jsonFuzzStream(t, "zeek", data)
		jsonFuzzDecode(t, zj, data)
	})
}

// FuzzEVTXJSON reads streams of pretty-printed events, and single one-line events,
// including Winlogbeat's.
func FuzzEVTXJSON(f *testing.F) {
	jsonSeedLines(f, "testdata/evtxjson/*.json")
	jsonSeedLines(f, "testdata/winlogbeat/*.json")
	if dir, ok := shareddata.Optional(f, "sigma/regression_data/rules/windows/builtin/security"); ok {
		if files, _ := filepath.Glob(filepath.Join(dir, "*", "*.json")); len(files) > 0 {
			data, _ := os.ReadFile(files[0])
			f.Add(data)
		}
	}
	d, wb := newEVTXJSONDecoder(Options{}), newWinlogbeatDecoder(Options{})
	f.Fuzz(func(t *testing.T, data []byte) {
		jsonFuzzStream(t, "evtx-json", data)
		jsonFuzzDecode(t, d, data)
		jsonFuzzDecode(t, wb, data)
	})
}
