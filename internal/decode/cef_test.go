package decode

import (
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/event"
)

func TestCEFExtension(t *testing.T) {
	tests := []struct {
		ext  string
		want map[string]string
	}{
		{"cs1=a b c cs2=d", map[string]string{"cef.cs1": "a b c", "cef.cs2": "d"}},
		{"cs1=x=y cs2=z", map[string]string{"cef.cs1": "x=y", "cef.cs2": "z"}},
		{`cs1=a\=b c\\ cs2=\n`, map[string]string{"cef.cs1": `a=b c\`, "cef.cs2": "\n"}},
		{"cs1=  cs2=last  ", map[string]string{"cef.cs1": "", "cef.cs2": "last"}},
		{"cs1=a !b=c", map[string]string{"cef.cs1": "a !b=c"}},
		{"cs1=http://h/?q=1&r=2 cs2=ok", map[string]string{"cef.cs1": "http://h/?q=1&r=2", "cef.cs2": "ok"}},
		{"src=not-an-ip", map[string]string{"cef.src": "not-an-ip"}},
	}
	for _, tt := range tests {
		raw := "CEF:0|V|P|1|sig|name|5|" + tt.ext
		e, err := textDecode(t, "cef", Options{}, time.Unix(0, 0), []byte(raw))
		if err != nil {
			t.Errorf("Decode(%q) = %v", raw, err)
			continue
		}
		for k, v := range tt.want {
			if got, ok := e.Get(event.K(k)); !ok || got != v {
				t.Errorf("Decode(%q): %s = %q, %v; want %q", raw, k, got, ok, v)
			}
		}
	}
}

func TestCEFCommon(t *testing.T) {
	raw := `CEF:0|Micro\|Focus|Arc\\Sight|7|4625|An account failed to log on.|Low|rt=May 01 2024 10:41:12 JST src=198.51.100.77 spt=50211 dst=192.168.20.11 dpt=445 proto=TCP suser=attacker duser=administrator act=blocked outcome=Failure in=10 out=20 dvchost=dc01`
	e, err := textDecode(t, "cef", Options{}, time.Time{}, []byte(raw))
	if err != nil {
		t.Fatalf("Decode(%q) = %v", raw, err)
	}
	got := []any{e.Time.UTC(), e.SrcIP.String(), e.SrcPort, e.DstIP.String(), e.DstPort, e.Protocol, e.User, e.Action, e.Outcome, e.BytesIn, e.BytesOut, e.Host, e.Message}
	want := []any{time.Date(2024, 5, 1, 1, 41, 12, 0, time.UTC), "198.51.100.77", uint16(50211), "192.168.20.11", uint16(445), "tcp", "attacker", "blocked", event.OutcomeFailure, uint64(10), uint64(20), "dc01", "An account failed to log on."}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("Decode(%q): field %d = %v, want %v", raw, i, got[i], want[i])
		}
	}
	for k, v := range map[string]string{"observer.vendor": "Micro|Focus", "observer.product": `Arc\Sight`, "cef.duser": "administrator", "cef.severity": "Low"} {
		if got, _ := e.Get(event.K(k)); got != v {
			t.Errorf("Decode(%q): %s = %q, want %q", raw, k, got, v)
		}
	}
}

func TestCEFErrors(t *testing.T) {
	tests := []struct {
		raw    string
		reason Reason
	}{
		{"CEF:0|a|b|c|d|e", ReasonSyntax},
		{"CEF:zero|a|b|c|d|e|f|", ReasonSyntax},
		{"CEF:0|a|b|c|d|e|f|novalue", ReasonSyntax},
		{"CEF:0|a|b|c|d|e|f|src=10.0.0.1", ReasonTimestamp}, // no rt, no time of arrival
		{"not cef at all", ReasonSyntax},
	}
	for _, tt := range tests {
		_, err := textDecode(t, "cef", Options{}, time.Time{}, []byte(tt.raw))
		if got := ReasonOf(err); got != tt.reason {
			t.Errorf("Decode(%q) = %v, want reason %s", tt.raw, err, tt.reason)
		}
	}
}
