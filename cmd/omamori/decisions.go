package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/respond"
)

var decisionsCommand = command{
	name:    "decisions",
	summary: "list, add, extend and delete response decisions",
	usage: `usage: omamori decisions list [-status S[,S]] [-target T] [-origin O] [-limit N] [-after ID]
       omamori decisions add -reason TEXT [-type block|isolate] [-ttl D] [-authority NAME -reference REF] TARGET
       omamori decisions extend -ttl D [-note TEXT] ID
       omamori decisions delete -note TEXT ID

Decisions block an address, a network or a domain, or isolate a host of the hospital,
for a time. Policies make them from alerts; people make and change them here, through
a running server's API, each change recorded with who made it.

A guardrail holds a decision that would touch a life-support device or cut a protected
clinical service — the device's address, a network containing it, a domain naming it;
it waits, visibly, until an approver approves or rejects it in the web UI (the decisions
page), signed in with a second factor. Approving and rejecting are a person's acts: an API
token, whatever its scopes, and so this command, can do neither, nor extend a decision an
approver approved; no one decides past a guardrail through the API. Deleting (revoking)
needs a note saying why, for the record.

The commands:

	list      the hospital's decisions, oldest first; held ones with how long they wait
	add       decide: TARGET is an address, a network in CIDR form or a domain
	extend    make an active decision apply for -ttl from now
	delete    revoke an active or held decision; the enforcers lift it

Flags:

	-status S[,S]
		list: only these: active, held, rejected, expired, revoked.
	-target T
		list: only decisions on exactly this address, network or domain.
	-origin O
		list: rule, person or authority, optionally with its name (rule:behavior.bruteforce).
	-limit N
		list: at most N decisions (default 100).
	-after ID
		list: only decisions after ID, to page on.
	-type block|isolate
		add: what to do (default block); isolate takes one address.
	-ttl D
		add, extend: how long, such as 4h or 168h (add: default 4h).
	-reason TEXT
		add: why, for the record.
	-authority NAME, -reference REF
		add: the decision answers an authority's request (the police, the national CERT)
		with its reference number.
	-note TEXT
		extend, delete: the comment kept with the change.
` + serverUsage,
	run: runDecisions,
}

func runDecisions(ctx context.Context, e env, fs *flag.FlagSet, args []string) error {
	sub, args, err := subcommand(fs, "decisions", args, "omamori decisions list|add|extend|delete")
	if err != nil {
		return err
	}
	var cf clientFlags
	cf.register(fs)
	status := fs.String("status", "", "")
	target := fs.String("target", "", "")
	origin := fs.String("origin", "", "")
	limit := fs.Int("limit", 100, "")
	after := fs.Int64("after", 0, "")
	typ := fs.String("type", "block", "")
	ttl := fs.Duration("ttl", 0, "")
	reason := fs.String("reason", "", "")
	authority := fs.String("authority", "", "")
	reference := fs.String("reference", "", "")
	note := fs.String("note", "", "")
	// -override is kept out of the usage: scripts written for older versions still pass it,
	// and are told why it is gone instead of being shown the usage.
	override := fs.Bool("override", false, "")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *override {
		return hint(fmt.Errorf("decisions %s: -override: an API token may not override a guardrail", sub),
			"overriding a guardrail is a person's act: without -override the decision is held, and an approver decides on the web UI's decisions page, signed in with a second factor")
	}

	switch sub {
	case "list":
		if len(pos) != 0 {
			return hint(fmt.Errorf("decisions list: unexpected argument %q", pos[0]), "filter with -status, -target, -origin")
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		return decisionsList(ctx, e, c, cf.json, *status, *target, *origin, *limit, *after)

	case "add":
		if len(pos) != 1 {
			return hint(errors.New("decisions add: want one target"), `omamori decisions add -ttl 4h -reason "SSH brute force" 203.0.113.7`)
		}
		if *ttl == 0 {
			*ttl = defaultDecisionTTL
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		req := respond.AddRequest{Action: decision.Action(*typ), Target: pos[0], TTL: ttl.String(), Reason: *reason,
			Authority: *authority, Reference: *reference}
		var d decision.View
		if err := c.call(ctx, "POST", "/api/v1/decisions", nil, req, &d); err != nil {
			return err
		}
		return printDecision(e.stdout, cf.json, d)

	case "approve", "reject":
		return hint(fmt.Errorf("decisions %s: approving or rejecting a held decision is for a person, not an API token", sub),
			"an approver signs in to the web UI with a second factor and decides on the decisions page")

	case "extend", "delete":
		if len(pos) != 1 {
			return hint(fmt.Errorf("decisions %s: want one decision ID", sub), "'omamori decisions list -status held' shows the IDs")
		}
		id, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil || id <= 0 {
			return hint(fmt.Errorf("decisions %s: %q is not a decision ID", sub, pos[0]), "'omamori decisions list' shows the IDs")
		}
		body := map[string]string{"note": *note}
		method, path := "POST", fmt.Sprintf("/api/v1/decisions/%d/%s", id, sub)
		switch sub {
		case "extend":
			if *ttl <= 0 {
				return hint(errors.New("decisions extend: -ttl is required"), "omamori decisions extend -ttl 24h "+pos[0])
			}
			body["ttl"] = ttl.String()
		case "delete":
			method, path = "DELETE", fmt.Sprintf("/api/v1/decisions/%d", id)
		}
		c, err := cf.client()
		if err != nil {
			return err
		}
		var d decision.View
		if err := c.call(ctx, method, path, nil, body, &d); err != nil {
			return err
		}
		return printDecision(e.stdout, cf.json, d)
	}
	return hint(fmt.Errorf("decisions: unknown command %q", sub), "omamori decisions list|add|extend|delete")
}

// defaultDecisionTTL is how long a person's decision lasts unless they say, as CrowdSec's.
const defaultDecisionTTL = 4 * time.Hour

// decisionsList prints up to limit decisions, following the API's pages.
func decisionsList(ctx context.Context, e env, c *apiClient, asJSON bool, status, target, origin string, limit int, after int64) error {
	if limit < 1 {
		return hint(fmt.Errorf("decisions list: -limit %d", limit), "show at least one")
	}
	var all []decision.View
	next := after
	for {
		q := url.Values{}
		for k, v := range map[string]string{"status": status, "target": target, "origin": origin} {
			if v != "" {
				q.Set(k, v)
			}
		}
		q.Set("limit", strconv.Itoa(min(limit-len(all), 1000)))
		if next > 0 {
			q.Set("after", strconv.FormatInt(next, 10))
		}
		var page respond.DecisionPage
		if err := c.call(ctx, "GET", "/api/v1/decisions", q, nil, &page); err != nil {
			return err
		}
		all, next = append(all, page.Decisions...), page.Next
		if next == 0 || len(all) >= limit {
			break
		}
	}
	if asJSON {
		if all == nil {
			all = []decision.View{}
		}
		return printJSON(e.stdout, respond.DecisionPage{Decisions: all, Next: next})
	}
	var tb table
	tb.row("ID", "STATUS", "ACTION", "TARGET", "UNTIL", "ORIGIN", "REASON", "GUARDRAIL")
	for _, d := range all {
		tb.row(strconv.FormatInt(d.ID, 10), decisionStatus(d), string(d.Action), d.Target,
			until(d), originText(d.Origin), oneLine(d.Reason), oneLine(d.Guardrail))
	}
	if err := tb.write(e.stdout); err != nil {
		return err
	}
	if len(all) == 0 {
		fmt.Fprintln(e.stderr, "no decisions")
	}
	if next != 0 {
		fmt.Fprintf(e.stderr, "more: omamori decisions list -after %d\n", next)
	}
	return nil
}

// decisionStatus is the status for a table: a held decision with how long it has waited.
func decisionStatus(d decision.View) string {
	s := string(d.Status)
	if d.Waiting != "" {
		s += " " + d.Waiting
	}
	if d.DryRun {
		s += " (dry run)"
	}
	return s
}

// until is when an active decision ends; a held one says how long it will last once approved.
func until(d decision.View) string {
	switch d.Status {
	case decision.StatusActive:
		return when(d.Expires)
	case decision.StatusHeld:
		return d.TTL + " once approved"
	}
	return "-"
}

func originText(o decision.OriginView) string {
	s := string(o.Kind)
	if o.Name != "" {
		s += ":" + o.Name
	}
	if o.Reference != "" {
		s += " " + o.Reference
	}
	return s
}

// oneLine keeps a table's rows to one line each; "-" for nothing.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	return s
}

// printDecision says what became of a decision after a change.
func printDecision(w io.Writer, asJSON bool, d decision.View) error {
	if asJSON {
		return printJSON(w, d)
	}
	fmt.Fprintf(w, "decision %d: %s %s %s, %s", d.ID, d.Action, d.Scope, d.Target, d.Status)
	switch d.Status {
	case decision.StatusActive:
		fmt.Fprintf(w, " until %s", when(d.Expires))
		if d.DryRun {
			fmt.Fprint(w, " (dry run: recorded, not enforced)")
		}
	}
	fmt.Fprintln(w)
	if d.Guardrail != "" {
		fmt.Fprintf(w, "guardrail: %s\n", d.Guardrail)
	}
	if d.Status == decision.StatusHeld {
		fmt.Fprintf(w, "it waits for an approver, on the web UI's decisions page (decision %d)\n", d.ID)
	}
	return nil
}
