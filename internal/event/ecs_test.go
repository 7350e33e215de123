package event

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAppendECS(t *testing.T) {
	e := &Event{
		Time:    time.Date(2021, 10, 31, 0, 30, 5, 0, time.FixedZone("JST", 9*3600)),
		Tenant:  "handa",
		Format:  "fortigate",
		Outcome: OutcomeFailure,
		User:    "maint\"vendor",
		SrcIP:   netip.MustParseAddr("198.51.100.77"),
		DstPort: 443,
		Message: "line\nbreak",
		Raw:     []byte("raw\xff"),
	}
	e.Add(K("tags"), "a")
	e.Add(K("fortigate.logid"), "0101039426")
	e.Add(K("tags"), "b")

	var got map[string]any
	line := AppendECS(nil, e)
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatalf("AppendECS wrote invalid JSON: %v\n%s", err, line)
	}
	want := map[string]any{
		"@timestamp":            "2021-10-30T15:30:05Z",
		"organization.id":       "handa",
		"event.module":          "fortigate",
		"event.outcome":         "failure",
		"user.name":             "maint\"vendor",
		"source.ip":             "198.51.100.77",
		"destination.port":      443.0,
		"message":               "line\nbreak",
		"tags":                  []any{"a", "b"},
		"fortigate.logid":       "0101039426",
		"event.original_base64": "cmF3/w==",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AppendECS mismatch (-want +got):\n%s", diff)
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\", "\x00\x1f\t", "日本語", "bad\xffutf8", "\u2028"} {
		var back string
		out := AppendJSONString(nil, s)
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("AppendJSONString(%q) = %s, not JSON: %v", s, out, err)
		}
		want := string([]rune(s)) // invalid bytes become U+FFFD, as encoding/json does
		if back != want {
			t.Errorf("AppendJSONString(%q) round-trips to %q, want %q", s, back, want)
		}
	}
}
