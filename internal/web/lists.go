package web

import (
	"context"
	"errors"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/incident"
)

// pager is the paging part of every list: which rows of how many are shown, and the links to
// the pages before and after with the list's filters kept.
type pager struct {
	Page, Pages  int
	Total        int
	First, Last  int
	PrevQ, NextQ string
}

// paginate returns the bounds of the requested page of n rows, per to a page. q holds the
// list's filters; its "page" is read and replaced in the links.
func paginate(n, per int, q url.Values) (pager, int, int) {
	pg := pager{Total: n, Pages: max(1, (n+per-1)/per)}
	pg.Page, _ = strconv.Atoi(q.Get("page"))
	pg.Page = min(max(pg.Page, 1), pg.Pages)
	lo, hi := (pg.Page-1)*per, min(pg.Page*per, n)
	pg.First, pg.Last = lo+1, hi
	pg.PrevQ, pg.NextQ = pageLinks(q, pg.Page, pg.Page < pg.Pages, pg.Pages)
	return pg, lo, hi
}

// option is one choice of a filter or sort select.
type option struct {
	Value, Label string
}

// oneOf returns v if it is among allowed, else the first allowed (the default).
func oneOf(v string, allowed ...string) string {
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	return allowed[0]
}

// clockView is one of an incident's clocks as a person reads it.
type clockView struct {
	Name     string
	Deadline time.Time
	Status   string        // running, warning, breached, met, missed
	Left     time.Duration // time left, or overdue by, as a positive duration
	Overdue  bool
	Running  bool
}

func clockViews(cs []incident.Clock, now time.Time) []clockView {
	out := make([]clockView, 0, len(cs))
	for _, c := range cs {
		v := clockView{Name: c.Name, Deadline: c.Deadline, Status: c.Status(now), Running: c.Stopped.IsZero()}
		left := c.Remaining(now)
		v.Overdue = left < 0
		v.Left = left.Abs()
		out = append(out, v)
	}
	return out
}

// running keeps the clocks still running, soonest deadline first.
func running(cs []clockView) []clockView {
	var out []clockView
	for _, c := range cs {
		if c.Running {
			out = append(out, c)
		}
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Deadline.Before(out[j-1].Deadline); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// actors turns the actors recorded by the services ("user:<id>", "person:<name>",
// "rule:<id>", "system") into the names people know, looking each user up once per request.
type actors struct {
	s     *Server
	ctx   context.Context
	names map[string]string
}

func (s *Server) actors(ctx context.Context) *actors {
	return &actors{s: s, ctx: ctx, names: map[string]string{}}
}

// Name returns who an actor is, for people.
func (a *actors) Name(actor string) string {
	if actor == "" {
		return ""
	}
	if n, ok := a.names[actor]; ok {
		return n
	}
	n := actor
	if id, ok := strings.CutPrefix(actor, "user:"); ok {
		if u, err := a.s.opt.Store.UserByID(a.ctx, id); err == nil {
			n = u.Name
		}
	} else if name, ok := strings.CutPrefix(actor, "person:"); ok {
		n = name
	}
	a.names[actor] = n
	return n
}

var actorRef = regexp.MustCompile(`user:[A-Za-z0-9_-]+`)

// Text replaces the users named in a timeline's free text ("user:… → user:…") by their names.
func (a *actors) Text(s string) string {
	return actorRef.ReplaceAllStringFunc(s, a.Name)
}

// dateRange reads a period typed as two dates (YYYY-MM-DD) in the UI's time zone: from the
// start of the first to the end of the last. Either may be empty, for an open end.
func dateRange(from, to string, loc *time.Location) (time.Time, time.Time, error) {
	var f, t time.Time
	var err error
	if from != "" {
		if f, err = time.ParseInLocation(time.DateOnly, from, loc); err != nil {
			return f, t, err
		}
	}
	if to != "" {
		if t, err = time.ParseInLocation(time.DateOnly, to, loc); err != nil {
			return f, t, err
		}
		t = t.AddDate(0, 0, 1)
	}
	if !f.IsZero() && !t.IsZero() && !f.Before(t) {
		return f, t, errors.New("the period ends before it starts")
	}
	return f, t, nil
}

// pageLinks returns the queries of the pages before and after page of a list whose filters
// are v: none before the first, none after the last or past last. The links carry the
// filters that are set, and their own "page".
func pageLinks(v url.Values, page int, more bool, last int) (prev, next string) {
	kept := url.Values{}
	for k, vs := range v {
		if k != "page" && len(vs) > 0 && vs[0] != "" {
			kept.Set(k, vs[0])
		}
	}
	link := func(page int) string {
		kept.Set("page", strconv.Itoa(page))
		return "?" + kept.Encode()
	}
	if page > 1 {
		prev = link(page - 1)
	}
	if more && page < last {
		next = link(page + 1)
	}
	return prev, next
}
