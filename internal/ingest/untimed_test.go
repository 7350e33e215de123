package ingest

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omamori-project/omamori/internal/decode"
)

// A record whose time cannot be read reaches the bus with its time of arrival, tagged, and is
// counted for its source; one with a time of its own is neither.
func TestTimeFromReceiptCounted(t *testing.T) {
	b := newTestBus(t)
	reg := prometheus.NewRegistry()
	p, err := NewPipeline(b, Config{}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(t.Context()) })
	s, err := p.NewStream("hospital-a", "syslog-udp", "syslog", decode.Options{Location: time.UTC, Year: 2024})
	if err != nil {
		t.Fatal(err)
	}
	received := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	s.Add([]byte("<14>May  1 10:20:30 gw app: has a time"), received)
	s.Add([]byte("<14>a small device sends no header"), received)
	if _, err := s.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(p.m.untimed.WithLabelValues("syslog-udp")); got != 1 {
		t.Errorf("omamori_ingest_time_from_receipt_total{source=syslog-udp} = %v, want 1", got)
	}
	tagged := 0
	for _, e := range b.events() {
		tags, _ := e.Value("tags")
		if decode.TimeFromReceipt(e) {
			tagged++
			if !e.Time.Equal(received) || tags != decode.TagTimeFromReceipt {
				t.Errorf("event %q: time %v, tags %q; want %v, %s", e.Raw, e.Time, tags, received, decode.TagTimeFromReceipt)
			}
		} else if tags == decode.TagTimeFromReceipt {
			t.Errorf("event %q tagged but TimeFromReceipt false", e.Raw)
		}
	}
	if tagged != 1 {
		t.Errorf("%d events from receipt on the bus, want 1", tagged)
	}
}
