package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/incident"
)

var incidentCommand = command{
	name:    "incident",
	summary: "list, show, assign and move incidents; draft statutory reports",
	usage: `usage: omamori incident list [-state S[,S]]
       omamori incident show ID
       omamori incident assign ID ASSIGNEE
       omamori incident state [-note TEXT] ID STATE
       omamori incident close [-note TEXT] ID
       omamori incident note ID TEXT...
       omamori incident report [-o FILE] ID OBLIGATION
       omamori incident export [-data-dir DIR] -o FILE ID

Incidents group the alerts about one attacker, victim and time for the people who
handle them, with their severity, response clocks, playbook checklist and timeline.
These commands work through a running server's API; every change is recorded in the
incident's timeline with who made it.

The commands:

	list     the hospital's incidents, most urgent first
	show     one incident: its clocks, checklist, alerts and timeline
	assign   give it to a person, such as user:sato
	state    move it on: new, triaged, contained, eradicated, recovered, closed
	         (and closed back to triaged to reopen it)
	close    the same as state ID closed
	note     add a comment to its timeline
	report   the draft of a statutory report (Markdown, in Japanese), such as
	         ppc-preliminary, ppc-final, mhlw, police: from the hospital's profile
	         (the web UI's settings, or incidents.hospitals in the config), the facts
	         recorded (one not yet established reads （未確認）), and the measures
	         taken (the decisions on the incident's alerts and the steps done)
	export   on the omamori machine: one tar file with the incident's record and, for
	         each address it names, a bundle of the archive's records about it (from an
	         hour before its first alert to an hour after its last) that verifies offline
	         with 'omamori archive verify-bundle'

Flags:

	-state S[,S]
		list: only incidents in these states (default: all).
	-note TEXT
		state, close: why, kept in the timeline.
	-o FILE
		report: write the draft to FILE instead of standard output; export: the
		package to write (required; it must not exist).
	-config FILE, -data-dir DIR, -set KEY=VALUE
		export: where the archive is, as for 'omamori archive'.
` + serverUsage,
	run: runIncident,
}

func runIncident(ctx context.Context, e env, fs *flag.FlagSet, args []string) error {
	sub, args, err := subcommand(fs, "incident", args, "omamori incident list|show|assign|state|close|note|report")
	if err != nil {
		return err
	}
	var cf clientFlags
	cf.register(fs)
	var af configFlags // export reads the archive on this machine
	af.register(fs)
	states := fs.String("state", "", "")
	note := fs.String("note", "", "")
	out := fs.String("o", "", "")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	want := func(n int, synopsis string) error {
		if len(pos) != n {
			return hint(fmt.Errorf("incident %s: want %s", sub, synopsis), "'omamori incident list' shows the IDs; 'omamori help incident' says more")
		}
		return nil
	}
	path := func() string { return "/api/v1/incidents/" + url.PathEscape(pos[0]) }

	switch sub {
	case "list":
		if err := want(0, "no arguments (filter with -state)"); err != nil {
			return err
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		q := url.Values{}
		if *states != "" {
			q.Set("state", *states)
		}
		var list []incident.Incident
		if err := c.call(ctx, "GET", "/api/v1/incidents", q, nil, &list); err != nil {
			return err
		}
		if cf.json {
			if list == nil {
				list = []incident.Incident{}
			}
			return printJSON(e.stdout, list)
		}
		return printIncidents(e, list)

	case "show":
		if err := want(1, "one incident ID"); err != nil {
			return err
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		var rec incident.Record
		if err := c.call(ctx, "GET", path(), nil, nil, &rec); err != nil {
			return err
		}
		if cf.json {
			return printJSON(e.stdout, rec)
		}
		return printRecord(e.stdout, rec, time.Now())

	case "assign", "state", "close", "note":
		var verb string
		var body map[string]string
		switch sub {
		case "assign":
			if err := want(2, "an incident ID and the assignee"); err != nil {
				return err
			}
			verb, body = "/assign", map[string]string{"assignee": pos[1]}
		case "state":
			if err := want(2, "an incident ID and the state"); err != nil {
				return err
			}
			verb, body = "/state", map[string]string{"state": pos[1], "note": *note}
		case "close":
			if err := want(1, "one incident ID"); err != nil {
				return err
			}
			verb, body = "/state", map[string]string{"state": string(incident.Closed), "note": *note}
		case "note":
			if len(pos) < 2 {
				return hint(errors.New("incident note: want an incident ID and the text"), `omamori incident note INC-... "called the ward: paper charts since 09:10"`)
			}
			verb, body = "/notes", map[string]string{"text": strings.Join(pos[1:], " ")}
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		var inc incident.Incident
		if err := c.call(ctx, "POST", path()+verb, nil, body, &inc); err != nil {
			return err
		}
		if cf.json {
			return printJSON(e.stdout, inc)
		}
		fmt.Fprintf(e.stdout, "%s: %s, %s, %s\n", inc.ID, inc.Severity, inc.State, assignee(inc))
		return nil

	case "report":
		if err := want(2, "an incident ID and the report (ppc-preliminary, ppc-final, mhlw, police)"); err != nil {
			return err
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		md, err := c.raw(ctx, "GET", path()+"/reports/"+url.PathEscape(pos[1]), nil, nil)
		if err != nil {
			return err
		}
		if *out == "" {
			_, err := e.stdout.Write(md)
			return err
		}
		// A draft names the hospital's systems and the number of patients: not for everyone's eyes.
		if err := os.WriteFile(*out, md, 0o600); err != nil {
			return fmt.Errorf("incident report: %w", err)
		}
		fmt.Fprintf(e.stderr, "wrote %s (%d bytes); edit it before sending\n", *out, len(md))
		return nil

	case "export":
		if err := want(1, "one incident ID"); err != nil {
			return err
		}
		if *out == "" {
			return hint(errors.New("incident export: no -o given"), "omamori incident export -o INC-20261123-XXXX.tar INC-20261123-XXXX")
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		return incidentExport(ctx, e, c, &af, pos[0], *out)
	}
	return hint(fmt.Errorf("incident: unknown command %q", sub), "omamori incident list|show|assign|state|close|note|report|export")
}

func assignee(inc incident.Incident) string {
	if inc.Assignee == "" {
		return "unassigned"
	}
	return "assigned to " + inc.Assignee
}

func printIncidents(e env, list []incident.Incident) error {
	var tb table
	tb.row("ID", "SEVERITY", "STATE", "ASSIGNEE", "ALERTS", "OPENED", "LAST", "TITLE")
	for _, inc := range list {
		tb.row(inc.ID, string(inc.Severity), string(inc.State), oneLine(inc.Assignee),
			strconv.Itoa(inc.Alerts), when(inc.Opened), when(inc.Last), oneLine(inc.Title))
	}
	if err := tb.write(e.stdout); err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(e.stderr, "no incidents")
	}
	return nil
}

// printRecord writes an incident for a person at a terminal: what it is, what is due, what
// is done, what happened.
func printRecord(w io.Writer, rec incident.Record, now time.Time) error {
	inc := rec.Incident
	fmt.Fprintf(w, "%s  %s\n", inc.ID, inc.Title)
	noun := "alerts"
	if inc.Alerts == 1 {
		noun = "alert"
	}
	fmt.Fprintf(w, "severity %s, %s, %s; %d %s from %s to %s\n", inc.Severity, inc.State, assignee(inc),
		inc.Alerts, noun, when(inc.First), when(inc.Last))
	if inc.MergedInto != "" {
		fmt.Fprintf(w, "merged into %s\n", inc.MergedInto)
	}
	if len(inc.Kinds) > 0 {
		fmt.Fprintf(w, "playbooks: %s\n", strings.Join(inc.Kinds, ", "))
	}
	if len(inc.Entities) > 0 {
		var ents []string
		for _, en := range inc.Entities {
			ents = append(ents, en.Kind+" "+en.Value)
		}
		fmt.Fprintf(w, "about: %s\n", strings.Join(ents, ", "))
	}
	// The facts the report drafts assert: an unchecked one says so.
	patients := "unconfirmed"
	if inc.Facts.PatientsAffected > 0 {
		patients = strconv.Itoa(inc.Facts.PatientsAffected)
	}
	fmt.Fprintf(w, "facts: personal data concerned %s, unauthorised access %s, patients affected %s\n",
		inc.Facts.PersonalData, inc.Facts.Unauthorized, patients)
	// Each part is a table of its own, after an empty line.
	part := func(tb *table) error {
		if len(tb.rows) < 2 {
			return nil
		}
		fmt.Fprintln(w)
		return tb.write(w)
	}
	clocks := &table{}
	clocks.row("CLOCK", "DEADLINE", "STATUS", "LEFT")
	for _, c := range rec.Clocks {
		left := "-"
		if c.Stopped.IsZero() {
			left = span(c.Remaining(now))
		}
		clocks.row(c.Name, when(c.Deadline), c.Status(now), left)
	}
	steps := &table{}
	steps.row("STEP", "DONE", "BY", "TITLE")
	for _, s := range rec.Checklist {
		done := "[ ]"
		if !s.Done.IsZero() {
			done = "[x] " + when(s.Done)
		}
		steps.row(s.Playbook+"/"+s.ID, done, oneLine(s.DoneBy), oneLine(s.Title))
	}
	alerts := &table{}
	alerts.row("ALERT", "LEVEL", "RULE", "LAST", "TITLE")
	for _, a := range rec.Alerts {
		alerts.row(a.ID, string(a.Level), a.RuleID, when(a.Last), oneLine(a.Title))
	}
	timeline := &table{}
	timeline.row("TIME", "BY", "WHAT", "DETAIL")
	for _, t := range rec.Timeline {
		timeline.row(when(t.Time), t.Actor, t.Kind, oneLine(t.Detail))
	}
	for _, tb := range []*table{clocks, steps, alerts, timeline} {
		if err := part(tb); err != nil {
			return err
		}
	}
	return nil
}

// span writes a time left for people: "4d 3h", "2h 15m", "12m", "overdue 1h 5m".
func span(d time.Duration) string {
	if d < 0 {
		return "overdue " + span(-d)
	}
	d = d.Truncate(time.Minute)
	days, h, m := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, h)
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	}
	return fmt.Sprintf("%dm", m)
}
