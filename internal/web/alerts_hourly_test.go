package web

import (
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/detect"
)

// TestHourly: alerts fall in the hour of their last event, the newest hour last; older ones
// and ones from the future are not drawn; the busiest hour is full height.
func TestHourly(t *testing.T) {
	now := time.Date(2026, 11, 23, 14, 30, 0, 0, time.UTC)
	at := func(d time.Duration) detect.Alert { return detect.Alert{Last: now.Add(d)} }
	hs := hourly([]detect.Alert{at(-10 * time.Minute), at(-20 * time.Minute), at(-90 * time.Minute), at(-23*time.Hour - 20*time.Minute),
		at(-30 * time.Hour), at(2 * time.Hour)}, now)
	if len(hs) != 24 || !hs[23].Start.Equal(time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)) {
		t.Fatalf("hours = %d, last starting %v; want 24, the last at 14:00", len(hs), hs[len(hs)-1].Start)
	}
	want := map[int]int{23: 2, 22: 1, 0: 1}
	for i, h := range hs {
		if h.Count != want[i] {
			t.Errorf("hour %d (%v): %d alerts, want %d", i, h.Start, h.Count, want[i])
		}
	}
	if hs[23].Height != 100 || hs[22].Height != 50 || hs[5].Height != 0 || hs[23].Y != 0 || hs[23].X != 92 {
		t.Errorf("bars: last %+v, previous %+v", hs[23], hs[22])
	}
}
