package web

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/deadletter"
	"github.com/omamori-project/omamori/internal/decode"
	"github.com/omamori-project/omamori/internal/store"
)

var listeners = []Listener{
	{Name: "fortigate", Protocol: "udp", Listen: "0.0.0.0:5514", Format: "fortigate", Tenant: "tokyo"},
	{Name: "osaka-utm", Protocol: "tls", Listen: "0.0.0.0:6514", Format: "syslog", Tenant: "osaka"},
}

// ingestCounts stores what package tally would have counted: tokyo's FortiGate sending every
// hour with two dead letters in the last one, its domain controller silent for three hours,
// and osaka's own source; and puts the dead letters on the bus.
func (f *fixture) ingestCounts(t testing.TB, b *bus.Bus, now time.Time) {
	t.Helper()
	var counts []store.IngestCount
	for h := range 24 {
		at := now.Add(-time.Duration(h) * time.Hour)
		counts = append(counts, store.IngestCount{Tenant: "tokyo", Hour: at, Source: "fortigate", Dataset: "fortigate.traffic",
			Events: int64(100 + h), LastSeen: at})
	}
	counts = append(counts,
		store.IngestCount{Tenant: "tokyo", Hour: now, Source: "fortigate", DeadLetters: 2, LastSeen: now},
		store.IngestCount{Tenant: "tokyo", Hour: now.Add(-3 * time.Hour), Source: "dc01-winlogbeat", Dataset: "windows.security",
			Events: 40, LastSeen: now.Add(-3 * time.Hour)},
		store.IngestCount{Tenant: "osaka", Hour: now, Source: "osaka-utm", Dataset: "syslog", Events: 5, LastSeen: now},
	)
	if err := f.store.AddIngestCounts(t.Context(), "test", 1, counts); err != nil {
		t.Fatal(err)
	}
	for tenant, recs := range map[string][]deadletter.Record{
		"tokyo": {
			{Time: now.Add(-time.Minute), Tenant: "tokyo", Source: "fortigate", Format: "fortigate", Reason: decode.ReasonBinary,
				Detail: "control byte 0x00 at 9", Raw: []byte("date=2026\x00患者 <script>")},
			{Time: now, Tenant: "tokyo", Source: "fortigate", Format: "fortigate", Reason: decode.ReasonTooLong,
				Detail: "longer than 64 KiB", Raw: []byte(strings.Repeat("x", 1000))},
		},
		"osaka": {{Time: now, Tenant: "osaka", Source: "osaka-utm", Format: "syslog", Reason: decode.ReasonBinary, Raw: []byte("osaka-secret")}},
	} {
		if err := b.PublishDeadLetters(t.Context(), tenant, deadletter.AppendBatch(nil, recs)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDashboardIngest(t *testing.T) {
	f := newFixture(t, false)
	_, body := do(t, f.signIn(t, "suzuki"), "GET", f.ts.URL+"/t/tokyo/", nil)
	// 100..123 over 24 hours is 2676, and the domain controller's 40.
	contains(t, "dashboard", body, []string{
		"受信 2716 件、デッドレター 2 件",
		"dc01-winlogbeat", "途絶", // silent for three hours, listed first
		"fortigate.traffic", "解析失敗あり",
		`href="/t/tokyo/sources"`,
		`id="tile-silent"><span class="n">1</span> 件の途絶した受信元`,
	}, "osaka-utm")
	if strings.Index(body, "dc01-winlogbeat") > strings.Index(body, ">fortigate<") {
		t.Error("the silent source is not listed first")
	}
	// The newest hour's bar: 100 events and 2 dead letters.
	if !strings.Contains(body, ": 受信 100 件、デッドレター 2 件</title>") {
		t.Error("the chart's current hour does not say 100 events and 2 dead letters")
	}
}

func TestSourcesPage(t *testing.T) {
	f := newFixture(t, false)
	// A viewer sees the health and the listeners, not what the dead letters hold.
	resp, body := do(t, f.signIn(t, "suzuki"), "GET", f.ts.URL+"/t/tokyo/sources", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sources = %d", resp.StatusCode)
	}
	contains(t, "sources (viewer)", body, []string{"0.0.0.0:5514", "fortigate.traffic", "dc01-winlogbeat", "途絶", `id="week-chart"`},
		"dead-letter-table", "control byte", "osaka")
	if n := strings.Count(body, "<rect x="); n != sourcesHours {
		t.Errorf("the week's chart has %d bars, want one an hour, %d", n, sourcesHours)
	}
	// An analyst, who may search the logs, also sees the latest dead letters: newest first,
	// the control byte shown as \x00, markup escaped, a long record cut.
	_, body = do(t, f.signIn(t, "tanaka"), "GET", f.ts.URL+"/t/tokyo/sources", nil)
	contains(t, "sources (analyst)", body, []string{"dead-letter-table", `date=2026\x00患者 &lt;script&gt;`, "control byte 0x00 at 9",
		"longer than 64 KiB", strings.Repeat("x", deadLetterRawShow) + "…"},
		strings.Repeat("x", deadLetterRawShow+1), "osaka-secret", "0.0.0.0:6514", "<script>")
	if strings.Index(body, "longer than 64 KiB") > strings.Index(body, "control byte 0x00") {
		t.Error("dead letters are not newest first")
	}
	// Osaka's viewer sees Osaka's only.
	_, body = do(t, f.signIn(t, "yamada"), "GET", f.ts.URL+"/t/osaka/sources", nil)
	contains(t, "osaka sources", body, []string{"osaka-utm", "0.0.0.0:6514"}, "fortigate", "dc01")
}

func TestPrintable(t *testing.T) {
	for _, c := range []struct {
		raw  string
		max  int
		want string
	}{
		{"plain", 10, "plain"},
		{"a\x00b\tc\x7f", 20, `a\x00b\x09c\x7f`},
		{"\xff\xfe ok", 20, `\xff\xfe ok`},
		{"電子カルテ", 6, "電子…"},
		{"abcdef", 6, "abcdef"},
		{"abcdefg", 6, "abcdef…"},
	} {
		if got := printable([]byte(c.raw), c.max); got != c.want {
			t.Errorf("printable(%q, %d) = %q; want %q", c.raw, c.max, got, c.want)
		}
	}
}
