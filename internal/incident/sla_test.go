package incident

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/severity"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, jst) }

// The Cabinet Office's published lists of 国民の祝日 (振替休日 and 国民の休日 included).
func TestJapaneseHolidays(t *testing.T) {
	for _, tc := range []struct {
		year int
		want []string
	}{
		{2025, []string{"01-01", "01-13", "02-11", "02-23", "02-24", "03-20", "04-29", "05-03", "05-04", "05-05", "05-06",
			"07-21", "08-11", "09-15", "09-23", "10-13", "11-03", "11-23", "11-24"}},
		{2026, []string{"01-01", "01-12", "02-11", "02-23", "03-20", "04-29", "05-03", "05-04", "05-05", "05-06",
			"07-20", "08-11", "09-21", "09-22", "09-23", "10-12", "11-03", "11-23"}},
	} {
		var got []string
		for d := day(tc.year, 1, 1); d.Year() == tc.year; d = d.AddDate(0, 0, 1) {
			if JapaneseHoliday(d.Date()) {
				got = append(got, d.Format("01-02"))
			}
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("holidays of %d (-want +got):\n%s", tc.year, diff)
		}
	}
}

func TestCalendar(t *testing.T) {
	cal := JapanCalendar()
	cal.Closed = map[string]bool{"2026-06-01": true}
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{day(2026, 9, 18), true},                                // Friday
		{day(2026, 9, 19), false},                               // Saturday
		{day(2026, 9, 22), false},                               // 国民の休日
		{day(2026, 12, 28), true},                               // last day before the year-end closure
		{day(2026, 12, 29), false},                              // year-end closure
		{day(2027, 1, 4), true},                                 // first day back
		{day(2026, 6, 1), false},                                // the hospital's own closed day
		{time.Date(2026, 9, 18, 23, 30, 0, 0, time.UTC), false}, // Saturday already in Japan
	} {
		if got := cal.BusinessDay(tc.at); got != tc.want {
			t.Errorf("BusinessDay(%v) = %v, want %v", tc.at, got, tc.want)
		}
	}
	// Friday evening's low incident is due at the end of Thursday after the silver week.
	if got, want := cal.NextBusinessDayEnd(time.Date(2026, 9, 18, 19, 0, 0, 0, jst)), time.Date(2026, 9, 24, 17, 0, 0, 0, jst); !got.Equal(want) {
		t.Errorf("NextBusinessDayEnd(Fri 18 Sep 2026) = %v, want %v", got, want)
	}
}

// TestStatutoryDeadlines computes the PPC deadlines across weekends, public holidays and the
// year-end closure: for the preliminary report three days after the day of awareness
// (weekends counting), for the final one in days, the day of awareness being day 1; and the
// periods a hospital configures instead.
func TestStatutoryDeadlines(t *testing.T) {
	obs, err := DefaultObligations()
	if err != nil {
		t.Fatal(err)
	}
	d := config.Default().Incidents.Deadlines
	d.PPCPreliminaryDays, d.PPCFinalUnauthorizedDays, d.MHLWHours = 5, 50, 6
	configured, err := ObligationsWith(d)
	if err != nil {
		t.Fatal(err)
	}
	get := func(id string) Obligation {
		if strings.HasPrefix(id, "configured ") {
			id = strings.TrimPrefix(id, "configured ")
			return configured[slices.IndexFunc(configured, func(o Obligation) bool { return o.ID == id })]
		}
		i := slices.IndexFunc(obs, func(o Obligation) bool { return o.ID == id })
		if i < 0 {
			t.Fatalf("no obligation %s", id)
		}
		return obs[i]
	}
	cal := JapanCalendar()
	at := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, jst) }
	end := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 23, 59, 59, 0, jst) }
	for _, tc := range []struct {
		name         string
		obligation   string
		aware        time.Time
		unauthorized bool
		want         time.Time
	}{
		// Day 30 is Saturday 19 September 2026; Sunday, 敬老の日, 国民の休日 and 秋分の日 follow.
		{"final over a weekend and three holidays", "ppc-final", at(2026, 8, 21, 14, 0), false, end(2026, 9, 24)},
		{"final, unauthorised access: 60 days", "ppc-final", at(2026, 8, 21, 14, 0), true, end(2026, 10, 19)},
		{"final on a weekday stays", "ppc-final", at(2026, 4, 1, 9, 0), false, end(2026, 4, 30)},
		// Day 30 is 29 December: the year-end closure and a weekend push it to 4 January.
		{"final into the year-end closure", "ppc-final", at(2026, 11, 30, 10, 0), false, end(2027, 1, 4)},
		// Day 30 is Sunday 3 May 2026, then 憲法記念日 to the 振替休日 on the 6th.
		{"final over Golden Week", "ppc-final", at(2026, 4, 4, 8, 0), false, end(2026, 5, 7)},
		{"preliminary: 3 days, weekends included", "ppc-preliminary", at(2026, 9, 18, 16, 0), false, end(2026, 9, 21)},
		{"MHLW: 24 hours", "mhlw", at(2026, 9, 19, 1, 30), false, at(2026, 9, 20, 1, 30)},
		{"configured preliminary: 5 days", "configured ppc-preliminary", at(2026, 9, 18, 16, 0), false, end(2026, 9, 23)},
		{"configured final keeps 30 days", "configured ppc-final", at(2026, 4, 1, 9, 0), false, end(2026, 4, 30)},
		{"configured final, unauthorised: 50 days", "configured ppc-final", at(2026, 4, 1, 9, 0), true, end(2026, 5, 20)},
		{"configured MHLW: 6 hours", "configured mhlw", at(2026, 9, 19, 1, 30), false, at(2026, 9, 19, 7, 30)},
	} {
		if got := get(tc.obligation).Deadline(tc.aware, tc.unauthorized, cal); !got.Equal(tc.want) {
			t.Errorf("%s: Deadline(%v) = %v, want %v", tc.name, tc.aware, got.In(jst), tc.want)
		}
	}
}

// TestEscalation runs the clocks of a critical and a high incident with a controllable clock:
// the on-call tier is told of each opening, the next tier when a clock is half gone, the one
// after and management when it lapses, and nothing twice.
func TestEscalation(t *testing.T) {
	t0 := time.Date(2026, 9, 18, 22, 0, 0, 0, jst)
	e := newEnv(t, t0, Config{})
	ctx := t.Context()
	crit, _ := e.svc.Ingest(ctx, alert("c1", "rc", "critical", t0, detect.Entities{Host: "ehr-db01"}), 1)
	high, _ := e.svc.Ingest(ctx, alert("h1", "rh", "high", t0, detect.Entities{Source: "10.0.0.7"}), 2)

	type sent struct{ Kind, Tier, Incident, Clock string }
	check := func(at time.Duration, want []sent) {
		t.Helper()
		e.rec.sent = nil
		e.clock.Set(t0.Add(at))
		if err := e.svc.CheckClocks(ctx); err != nil {
			t.Fatalf("CheckClocks at +%v = %v", at, err)
		}
		if err := e.svc.CheckClocks(ctx); err != nil { // again at the same instant: nothing more
			t.Fatal(err)
		}
		var got []sent
		for _, n := range e.rec.Sent() {
			got = append(got, sent{n.Kind, n.Tier, n.Incident, n.Clock})
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("notifications at +%v (-want +got):\n%s", at, diff)
		}
	}
	opened := e.rec.Sent()
	if len(opened) != 2 || opened[0].Kind != "opened" || opened[0].Tier != "l1" || opened[0].Text == "" {
		t.Errorf("notifications on opening = %+v, want two to l1", opened)
	}
	check(time.Minute, nil)
	check(150*time.Second, []sent{{"warning", "l2", crit.Incident, ClockAcknowledge}})
	check(5*time.Minute, []sent{{"breach", "l3", crit.Incident, ClockAcknowledge}, {"breach", "management", crit.Incident, ClockAcknowledge}})
	// Someone takes the high one before its deadline: its acknowledge clock stops.
	e.clock.Set(t0.Add(6 * time.Minute))
	if _, err := e.svc.Assign(ctx, tenant, high.Incident, "user:lead", "user:sato"); err != nil {
		t.Fatal(err)
	}
	check(20*time.Minute, nil)
	check(30*time.Minute, []sent{{"warning", "l2", crit.Incident, ClockReport}})

	rec, _ := e.svc.Show(ctx, tenant, crit.Incident)
	var status []string
	for _, c := range rec.Clocks {
		status = append(status, c.Name+":"+c.Status(e.clock.Now()))
	}
	if diff := cmp.Diff([]string{"acknowledge:breached", "report:warning", "contain:running", "mhlw:running"}, status); diff != "" {
		t.Errorf("critical incident's clocks (-want +got):\n%s", diff)
	}
	if n := countKind(rec.Timeline, "clock.breach"); n != 1 {
		t.Errorf("timeline has %d clock.breach entries, want 1", n)
	}

	// A failed notification is not marked and is tried again at the next check.
	e.rec.Fail = errors.New("smtp down")
	e.clock.Set(t0.Add(2 * time.Hour))
	if err := e.svc.CheckClocks(ctx); err == nil {
		t.Error("CheckClocks with a failing notifier = nil error, want the failure")
	}
	e.rec.Fail = nil
	e.rec.sent = nil
	if err := e.svc.CheckClocks(ctx); err != nil {
		t.Fatal(err)
	}
	var got []sent
	for _, n := range e.rec.Sent() {
		got = append(got, sent{n.Kind, n.Tier, n.Incident, n.Clock})
	}
	want := []sent{
		{"breach", "l3", crit.Incident, ClockReport}, {"breach", "management", crit.Incident, ClockReport},
		{"warning", "l2", crit.Incident, ClockContain}, {"warning", "l2", high.Incident, ClockReport},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("notifications retried at +2h (-want +got):\n%s", diff)
	}
}

// TestClocksSurviveRestart stores deadlines, so a service started again later (another
// process, a new day) finds the clocks where they were and fires what came due meanwhile.
func TestClocksSurviveRestart(t *testing.T) {
	t0 := time.Date(2026, 9, 18, 22, 0, 0, 0, jst)
	e := newEnv(t, t0, Config{})
	out, _ := e.svc.Ingest(t.Context(), alert("h1", "rh", "high", t0, detect.Entities{Source: "10.0.0.7"}), 1)
	before, _ := e.svc.Show(t.Context(), tenant, out.Incident)

	// The SLA policy changes while the service is down: stored deadlines do not move.
	e.cfg.SLA = DefaultSLA()
	e.cfg.SLA[severity.High] = SLA{Acknowledge: time.Hour, Contain: 48 * time.Hour}
	e.clock.Set(t0.Add(16 * time.Minute))
	e.reopen(t)
	after, _ := e.svc.Show(t.Context(), tenant, out.Incident)
	if diff := cmp.Diff(before.Clocks, after.Clocks); diff != "" {
		t.Errorf("clocks after restart (-before +after):\n%s", diff)
	}
	if err := e.svc.CheckClocks(t.Context()); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, n := range e.rec.Sent()[1:] {
		kinds = append(kinds, n.Kind+":"+n.Clock)
	}
	if diff := cmp.Diff([]string{"breach:acknowledge"}, kinds); diff != "" {
		t.Errorf("after restart past the deadline (-want +got):\n%s", diff)
	}
}

// TestLeakClocks: marking the incident as a patient data leak starts the PPC clocks from the
// time of awareness; learning it was unauthorised access moves the final deadline to 60 days.
func TestLeakClocks(t *testing.T) {
	aware := time.Date(2026, 8, 21, 14, 0, 0, 0, jst)
	e := newEnv(t, aware.Add(26*time.Hour), Config{})
	ctx := t.Context()
	out, _ := e.svc.Ingest(ctx, alert("x1", "behavior.exfiltration", "high", aware, detect.Entities{Source: "192.168.1.20"}), 1)
	if _, err := e.svc.SetFacts(ctx, tenant, out.Incident, "user:sato", Facts{AwareAt: aware.Add(48 * time.Hour)}, 0); err == nil {
		t.Error("SetFacts(aware in the future) = nil error, want refusal")
	}
	if _, err := e.svc.SetFacts(ctx, tenant, out.Incident, "user:sato", Facts{AwareAt: aware, PersonalData: Yes, PatientsAffected: 1200}, 0); err != nil {
		t.Fatal(err)
	}
	deadlines := func() map[string]string {
		rec, _ := e.svc.Show(ctx, tenant, out.Incident)
		m := map[string]string{}
		for _, c := range rec.Clocks {
			m[c.Name] = c.Deadline.In(jst).Format("2006-01-02 15:04")
		}
		return m
	}
	want := map[string]string{"acknowledge": "2026-08-22 16:15", "contain": "2026-08-23 16:00", "report": "2026-08-22 20:00",
		"ppc-preliminary": "2026-08-24 23:59", "ppc-final": "2026-09-24 23:59",
		"mhlw": "2026-08-22 14:00"} // exfiltration made it a patient-data-leak incident
	if diff := cmp.Diff(want, deadlines()); diff != "" {
		t.Errorf("clocks after marking the leak (-want +got):\n%s", diff)
	}
	if _, err := e.svc.SetFacts(ctx, tenant, out.Incident, "user:sato", Facts{AwareAt: aware, PersonalData: Yes, Unauthorized: Yes, PatientsAffected: 1200}, 0); err != nil {
		t.Fatal(err)
	}
	want["ppc-final"] = "2026-10-19 23:59"
	if diff := cmp.Diff(want, deadlines()); diff != "" {
		t.Errorf("clocks after unauthorised access is known (-want +got):\n%s", diff)
	}
	// The preliminary report is sent: its clock stops and stays stopped.
	if _, err := e.svc.StopClock(ctx, tenant, out.Incident, "user:sato", "ppc-preliminary", "受付番号 R-123"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.StopClock(ctx, tenant, out.Incident, "user:sato", "ppc-preliminary", "again"); err == nil {
		t.Error("StopClock(stopped clock) = nil error, want refusal")
	}
	rec, _ := e.svc.Show(ctx, tenant, out.Incident)
	for _, c := range rec.Clocks {
		if c.Name == "ppc-preliminary" && c.Status(e.clock.Now()) != "met" {
			t.Errorf("ppc-preliminary after the report = %s, want met", c.Status(e.clock.Now()))
		}
	}
}
