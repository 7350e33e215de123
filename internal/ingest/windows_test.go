package ingest

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/omamori-project/omamori/internal/event"
)

// TestHTTPWindowsWithoutFormat posts Windows events as NXLog and Winlogbeat 6 write them, with
// a generic JSON record between them, and no ?format: each Windows record must come out as the
// Windows event the Sigma rules select on (winlog.channel, winlog.event_id), the other as JSON.
func TestHTTPWindowsWithoutFormat(t *testing.T) {
	first := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join("..", "decode", "testdata", "windows", name))
		if err != nil {
			t.Fatal(err)
		}
		line, _, _ := bytes.Cut(data, []byte{'\n'})
		return line
	}
	body := bytes.Join([][]byte{
		first("nxlog.json"),
		[]byte(`{"@timestamp":"2024-05-01T10:00:00Z","message":"not windows","EventIDs":"1102"}`),
		first("winlogbeat6.json"),
	}, []byte{'\n'})

	mb := newTestBus(t)
	p := newTestPipeline(t, mb, Config{})
	h := &Handler{Pipeline: p, Tenant: func(*http.Request) (string, string, error) { return "hospital-a", "t", nil }}
	status, got := postIngest(t, h, "", body, nil)
	if status != 200 || got["accepted"] != 3.0 {
		t.Fatalf("POST = %d %v, want 200 with 3 accepted", status, got)
	}
	p.Close(t.Context())

	want := []struct{ format, channel, eventID string }{
		{"nxlog", "Security", "1102"},
		{"json", "", ""},
		{"winlogbeat6", "Security", "1102"},
	}
	events := mb.events()
	if len(events) != len(want) {
		t.Fatalf("%d events on the bus, want %d", len(events), len(want))
	}
	for i, w := range want {
		e := events[i]
		channel, _ := e.Get(event.K("winlog.channel"))
		id, _ := e.Get(event.K("winlog.event_id"))
		if e.Format != w.format || channel != w.channel || id != w.eventID {
			t.Errorf("event %d: format %q, winlog.channel %q, winlog.event_id %q; want %q, %q, %q",
				i, e.Format, channel, id, w.format, w.channel, w.eventID)
		}
	}
}
