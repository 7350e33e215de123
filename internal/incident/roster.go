package incident

import (
	"fmt"
	"time"
)

// Roster says who is on call in each tier, shift by shift: a regional SOC's day (8:00–20:00)
// and night (20:00–8:00) teams, or a small hospital's one person all day. Notifications
// carry the people on call in their tier at the time they are sent.
type Roster struct {
	Loc    *time.Location // default JST
	Shifts []Shift
}

// Shift is a daily span of time, Start to End as offsets from midnight (End before Start
// runs past midnight), with the people on call in each tier.
type Shift struct {
	Name   string
	Start  time.Duration
	End    time.Duration
	OnCall map[string][]string // tier → people
}

// DayNight returns the usual SOC roster: day 8:00–20:00 and night 20:00–8:00, in JST.
func DayNight(day, night map[string][]string) *Roster {
	return &Roster{Loc: jst, Shifts: []Shift{
		{Name: "day", Start: 8 * time.Hour, End: 20 * time.Hour, OnCall: day},
		{Name: "night", Start: 20 * time.Hour, End: 8 * time.Hour, OnCall: night},
	}}
}

// Check reports a shift whose times are out of range or empty.
func (r *Roster) Check() error {
	for _, s := range r.Shifts {
		if s.Start < 0 || s.Start >= 24*time.Hour || s.End < 0 || s.End > 24*time.Hour || s.Start == s.End {
			return fmt.Errorf("incident: shift %q runs from %v to %v; want two different times of day", s.Name, s.Start, s.End)
		}
	}
	return nil
}

// OnCall returns the shift at t and the people on call in tier then. A time no shift covers
// has nobody: the notification still goes to the tier's channel.
func (r *Roster) OnCall(tier string, t time.Time) (shift string, people []string) {
	if r == nil {
		return "", nil
	}
	loc := r.Loc
	if loc == nil {
		loc = jst
	}
	t = t.In(loc)
	y, m, d := t.Date()
	of := t.Sub(time.Date(y, m, d, 0, 0, 0, 0, loc))
	for _, s := range r.Shifts {
		in := of >= s.Start && of < s.End
		if s.End < s.Start { // past midnight
			in = of >= s.Start || of < s.End
		}
		if in {
			return s.Name, s.OnCall[tier]
		}
	}
	return "", nil
}
