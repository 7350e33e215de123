package incident

import (
	"fmt"
	"time"
)

// jst is Japan Standard Time. A fixed zone rather than time.LoadLocation("Asia/Tokyo"): Japan
// has no daylight saving time, and the binary must not depend on the host's zoneinfo.
var jst = time.FixedZone("JST", 9*3600)

// Calendar decides business days: the "next business day" of a low-severity SLA and the
// statutory deadlines that move past a weekend or holiday. Dates are taken in Loc.
type Calendar struct {
	Loc *time.Location
	// Holidays reports whether a date (year, month, day) is a public holiday.
	Holidays func(y int, m time.Month, d int) bool
	// Closed are extra days off (a hospital's founding day), as "2006-01-02".
	Closed map[string]bool
	// YearEnd closes 29 December to 3 January, as the offices of the authorities are closed
	// (行政機関の休日に関する法律).
	YearEnd bool
	// DayEnd is when a business day ends, as an offset from midnight (default 17:00).
	DayEnd time.Duration
}

// JapanCalendar returns the calendar of a Japanese hospital's office: weekends, the public
// holidays of 国民の祝日に関する法律, and the year-end closure, in JST.
func JapanCalendar() *Calendar {
	return &Calendar{Loc: jst, Holidays: JapaneseHoliday, YearEnd: true, DayEnd: 17 * time.Hour}
}

// BusinessDay reports whether the date of t (in the calendar's zone) is a business day.
func (c *Calendar) BusinessDay(t time.Time) bool {
	t = t.In(c.Loc)
	y, m, d := t.Date()
	switch {
	case t.Weekday() == time.Saturday || t.Weekday() == time.Sunday:
		return false
	case c.YearEnd && ((m == time.December && d >= 29) || (m == time.January && d <= 3)):
		return false
	case c.Holidays != nil && c.Holidays(y, m, d):
		return false
	case c.Closed[t.Format(time.DateOnly)]:
		return false
	}
	return true
}

// startOfDay returns midnight of t's date in the calendar's zone.
func (c *Calendar) startOfDay(t time.Time) time.Time {
	y, m, d := t.In(c.Loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, c.Loc)
}

// NextBusinessDayEnd returns the end of the first business day after t's date.
func (c *Calendar) NextBusinessDayEnd(t time.Time) time.Time {
	day := c.startOfDay(t).AddDate(0, 0, 1)
	for !c.BusinessDay(day) {
		day = day.AddDate(0, 0, 1)
	}
	return day.Add(c.dayEnd())
}

func (c *Calendar) dayEnd() time.Duration {
	if c.DayEnd <= 0 {
		return 17 * time.Hour
	}
	return c.DayEnd
}

// RollForward returns t if its date is a business day, or the same time of day on the next
// business day.
func (c *Calendar) RollForward(t time.Time) time.Time {
	for !c.BusinessDay(t) {
		t = t.In(c.Loc).AddDate(0, 0, 1)
	}
	return t
}

// JapaneseHoliday reports whether a date is a public holiday under 国民の祝日に関する法律 as
// it stands since 2020 (so it is exact from 2022; the Olympic years 2020 and 2021 moved
// three holidays by special law), including 振替休日 and 国民の休日. The equinox days use the
// usual approximation of the National Astronomical Observatory's dates, valid to 2099;
// the Cabinet Office announces them each February for the next year.
func JapaneseHoliday(y int, m time.Month, d int) bool {
	if fixedHoliday(y, m, d) {
		return true
	}
	t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	// 振替休日: a holiday on a Sunday makes the next day that is not a holiday one.
	for back := t.AddDate(0, 0, -1); fixedHoliday(back.Date()); back = back.AddDate(0, 0, -1) {
		if back.Weekday() == time.Sunday {
			return true
		}
	}
	// 国民の休日: a day between two holidays.
	prev, next := t.AddDate(0, 0, -1), t.AddDate(0, 0, 1)
	return t.Weekday() != time.Sunday && fixedHoliday(prev.Date()) && fixedHoliday(next.Date())
}

// fixedHoliday is the holidays named by the law, without the substitutes.
func fixedHoliday(y int, m time.Month, d int) bool {
	nthMonday := func(n int) bool {
		wd := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Weekday()
		return wd == time.Monday && (d-1)/7 == n-1
	}
	switch m {
	case time.January:
		return d == 1 || nthMonday(2) // 元日, 成人の日
	case time.February:
		return d == 11 || d == 23 // 建国記念の日, 天皇誕生日
	case time.March:
		return d == equinox(y, 20.8431) // 春分の日
	case time.April:
		return d == 29 // 昭和の日
	case time.May:
		return d >= 3 && d <= 5 // 憲法記念日, みどりの日, こどもの日
	case time.July:
		return nthMonday(3) // 海の日
	case time.August:
		return d == 11 // 山の日
	case time.September:
		return nthMonday(3) || d == equinox(y, 23.2488) // 敬老の日, 秋分の日
	case time.October:
		return nthMonday(2) // スポーツの日
	case time.November:
		return d == 3 || d == 23 // 文化の日, 勤労感謝の日
	}
	return false
}

// equinox returns the day of the spring (base 20.8431) or autumn (23.2488) equinox in year y.
func equinox(y int, base float64) int {
	return int(base+0.242194*float64(y-1980)) - (y-1980)/4
}

// ParseDate reads a date as "2006-01-02" for Calendar.Closed.
func ParseDate(s string) (time.Time, error) {
	t, err := time.ParseInLocation(time.DateOnly, s, jst)
	if err != nil {
		return time.Time{}, fmt.Errorf("incident: bad date %q (want YYYY-MM-DD): %w", s, err)
	}
	return t, nil
}
