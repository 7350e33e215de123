package incident

import (
	"slices"
	"testing"
	"time"

	"github.com/omamori-project/omamori/internal/detect"
)

func TestRoster(t *testing.T) {
	r := DayNight(map[string][]string{"l1": {"sato"}, "l2": {"suzuki"}}, map[string][]string{"l1": {"tanaka"}, "l2": {"ito", "kato"}})
	for _, tc := range []struct {
		at     time.Time
		tier   string
		shift  string
		people []string
	}{
		{time.Date(2026, 4, 1, 8, 0, 0, 0, jst), "l1", "day", []string{"sato"}},
		{time.Date(2026, 4, 1, 19, 59, 0, 0, jst), "l2", "day", []string{"suzuki"}},
		{time.Date(2026, 4, 1, 20, 0, 0, 0, jst), "l2", "night", []string{"ito", "kato"}},
		{time.Date(2026, 4, 1, 3, 0, 0, 0, jst), "l1", "night", []string{"tanaka"}},
		{time.Date(2026, 4, 1, 1, 0, 0, 0, time.UTC), "l1", "day", []string{"sato"}}, // 10:00 in Japan
		{time.Date(2026, 4, 1, 12, 0, 0, 0, jst), "csirt-lead", "day", nil},
	} {
		shift, people := r.OnCall(tc.tier, tc.at)
		if shift != tc.shift || !slices.Equal(people, tc.people) {
			t.Errorf("OnCall(%s, %v) = %s %v, want %s %v", tc.tier, tc.at, shift, people, tc.shift, tc.people)
		}
	}
	bad := &Roster{Shifts: []Shift{{Name: "x", Start: 8 * time.Hour, End: 8 * time.Hour}}}
	if err := bad.Check(); err == nil {
		t.Error("Check(empty shift) = nil error, want refusal")
	}
	if _, err := NewService(nil, Config{Roster: bad}, nil, nil, nil); err == nil {
		t.Error("NewService(bad roster) = nil error, want refusal")
	}

	// The night shift's L1 hears of the incident, and its L2 of the warning.
	t0 := time.Date(2026, 4, 1, 23, 0, 0, 0, jst)
	e := newEnv(t, t0, Config{Roster: r})
	e.svc.Ingest(t.Context(), alert("h1", "rh", "high", t0, detect.Entities{Source: "10.0.0.7"}), 1)
	e.clock.Add(8 * time.Minute)
	e.svc.CheckClocks(t.Context())
	sent := e.rec.Sent()
	if len(sent) != 2 || !slices.Equal(sent[0].People, []string{"tanaka"}) || !slices.Equal(sent[1].People, []string{"ito", "kato"}) || sent[1].Shift != "night" {
		t.Fatalf("notifications = %+v, want tanaka then ito and kato on the night shift", sent)
	}
	if want := "[high] " + sent[1].Incident + " の acknowledge 期限が近づいています (04/01 23:15): rh （当番: ito、kato）"; sent[1].Text != want {
		t.Errorf("text = %q, want %q", sent[1].Text, want)
	}
}
