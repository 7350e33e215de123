package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/asset"
	"github.com/omamori-project/omamori/internal/auth"
	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/crowdsec"
	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/incident"
	"github.com/omamori-project/omamori/internal/intel"
	"github.com/omamori-project/omamori/internal/nft"
	"github.com/omamori-project/omamori/internal/respond"
	"github.com/omamori-project/omamori/internal/store"
	"github.com/omamori-project/omamori/internal/webhook"
)

// RespondConsumer names response's durable consumer of ALERTS.
const RespondConsumer = "respond"

// startResponse follows ALERTS twice, with a durable consumer each: response turns alerts
// into decisions under the guardrails, and incidents gather them into the SOC's workflow.
// Decisions reach the kernel through nftables when this machine is the gateway, and every
// CrowdSec bouncer through /v1/decisions.
func (n *Node) startResponse(ctx context.Context, cfg *config.Config, tenants []string) error {
	n.inventories = &inventories{dir: filepath.Join(cfg.DataDir, "assets"), byTen: map[string]*asset.Inventory{}}
	if err := n.inventories.load(ctx, n.Store, tenants, cfg.Ingest.DefaultTenant, cfg.Respond.Assets); err != nil {
		return err
	}
	inv := n.inventories.get(cfg.Ingest.DefaultTenant)
	allow, err := allowlists(cfg)
	if err != nil {
		return err
	}
	n.allow = allow

	var enforce func(context.Context, respond.Decision)
	if cfg.Respond.Nftables {
		if enforce, err = n.startEnforcer(ctx, cfg, tenants); err != nil {
			return err
		}
	}
	hooks := n.startWebhooks(ctx, cfg)
	rcfg := respond.Config{DryRun: cfg.Respond.DryRun, Log: n.log, Changed: func(ctx context.Context, d respond.Decision) {
		n.journalDecision(d)
		if enforce != nil {
			enforce(ctx, d)
		}
		if hooks != nil && !d.DryRun {
			hooks.Send(d.Tenant, fmt.Sprintf("decision %d %s", d.ID, d.Status), enforced(d), d.View(time.Now()))
		}
	}}
	for _, p := range cfg.Respond.Policies {
		rcfg.Policies = append(rcfg.Policies, respond.Policy{Name: p.Name, Rules: p.Rules, Detectors: p.Detectors,
			MinLevel: p.MinLevel, Action: respond.Action(p.Action), Target: respond.Entity(p.Target),
			Prefix: p.Prefix, PrefixV6: p.PrefixV6, TTL: p.TTL, Continue: p.Continue})
	}
	n.Respond, err = respond.New(n.Store, rcfg)
	if err != nil {
		return fmt.Errorf("respond: %w", err)
	}
	for _, t := range tenants {
		// A tenant without an inventory has all its automatic decisions held.
		g := &respond.Guardrails{Allow: allow, Assets: n.inventories.get(t)}
		n.Respond.SetGuardrails(t, g)
	}
	n.goServe("respond", func() error {
		return n.Bus.ConsumeAlerts(ctx, bus.ConsumeConfig{Durable: RespondConsumer}, n.onAlerts)
	})
	n.goServe("respond-expiry", func() error { return n.Respond.Run(ctx, time.Minute) })
	n.mountAssets()
	// What other nodes are sent: from a minute before this one loaded (the clocks of nodes
	// differ a little, and taking up a document twice does no harm).
	since := time.Now().Add(-time.Minute)
	n.goServe("documents", func() error { return n.followDocuments(ctx, since) })

	keys := map[string]crowdsec.Bouncer{}
	for _, b := range cfg.Respond.Bouncers {
		keys[b.Key] = crowdsec.Bouncer{Tenant: b.Tenant, Name: b.Name}
	}
	sk, err := crowdsec.NewStaticKeys(keys)
	if err != nil {
		return fmt.Errorf("respond.bouncers: %w", err)
	}
	n.API.Mount("/v1/", "bouncer key", crowdsec.NewHandler(n.Store, crowdsec.Config{Keys: sk, Log: n.log}))

	// Scripts change decisions through the API: a token with scope respond acts as a
	// responder, never as an approver: approving what a guardrail held, or overriding it, is
	// for a person signed in to the web UI with a second factor.
	rh := &respond.HTTP{Service: n.Respond, Log: n.log, Principal: func(r *http.Request) (string, respond.Person, error) {
		p, err := tokenPrincipal(r)
		if err != nil {
			return "", respond.Person{}, err
		}
		return p.Tenant, respond.ByToken(p), nil
	}}
	for _, rt := range rh.Routes() {
		n.handleRW(rt.Pattern, rt.Write, rt.Handler)
	}

	// Incidents.
	icfg := incident.Config{Window: cfg.Incidents.Window}
	if inv != nil {
		icfg.Hosts = map[string]string{}
		for _, a := range inv.All() {
			icfg.Hosts[strings.ToLower(a.Name)] = a.Addr().String()
			if a.Category == asset.LifeSupport || a.Protected {
				icfg.Protected = append(icfg.Protected, a.Name, a.Addr().String())
			}
		}
	}
	if icfg.Obligations, err = incident.ObligationsWith(cfg.Incidents.Deadlines); err != nil {
		return fmt.Errorf("incidents: %w", err)
	}
	icfg.Hospital = map[string]incident.Hospital{}
	for _, h := range cfg.Incidents.Hospitals {
		icfg.Hospital[h.Tenant] = h
	}
	n.Incidents, err = incident.NewService(n.Store, icfg, nil, notifier(cfg), n.log)
	if err != nil {
		return fmt.Errorf("incidents: %w", err)
	}
	n.goServe("incidents", func() error { return n.Incidents.Follow(ctx, n.Bus, "incidents") })
	n.goServe("incident-clocks", func() error { return n.Incidents.RunClocks(ctx, 30*time.Second) })
	ih := &incident.HTTP{Service: n.Incidents, Log: n.log, Principal: tokenActor}
	for _, rt := range ih.Routes() {
		n.handleRW(rt.Pattern, rt.Write, rt.Handler)
	}
	return nil
}

// handleRW registers a route of the response or incident API: reading needs the read scope,
// changing needs respond.
func (n *Node) handleRW(pattern string, write bool, h http.Handler) {
	scope := auth.ScopeRead
	if write {
		scope = auth.ScopeRespond
	}
	n.API.Handle(pattern, scope, h)
}

// notifier is who is told outside omamori — of incidents, and of break-glass accesses: the
// incidents' webhook, or nobody.
func notifier(cfg *config.Config) incident.Notifier {
	if cfg.Incidents.Webhook == "" {
		return nil
	}
	return &incident.Webhook{URL: cfg.Incidents.Webhook}
}

// onAlerts runs the response policies on a group of alerts from the bus. An alert that does
// not decode is logged and skipped: it cannot become a decision, and holding the stream for
// it would stop every later response.
func (n *Node) onAlerts(ctx context.Context, msgs []bus.Msg) error {
	for _, m := range msgs {
		var a detect.Alert
		if err := json.Unmarshal(m.Data, &a); err != nil {
			n.log.Error("alert does not decode; no response to it", "seq", m.Seq, "err", err)
			continue
		}
		if a.Tenant != m.Tenant {
			n.log.Error("alert names another tenant than its subject; no response to it", "seq", m.Seq, "subject", m.Tenant)
			continue
		}
		_, err := n.Respond.OnAlert(ctx, a)
		switch {
		case errors.Is(err, respond.ErrInvalid):
			// A policy that cannot act on this alert (an isolation of a host the inventory
			// does not know): the alert stays for people to act on.
			n.log.Info("no automatic response to alert", "alert", a.ID, "rule", a.RuleID, "err", err)
		case err != nil:
			return err // the store failed: the group comes again
		}
	}
	return nil
}

// allowlists are the networks never blocked automatically: the configured ones and the MISP
// warning lists.
func allowlists(cfg *config.Config) ([]respond.Allowlist, error) {
	own := &respond.Networks{}
	for _, s := range cfg.Respond.Allow {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("respond.allow: %w", err)
		}
		own.AddPrefix(p.Masked(), "respond.allow "+s)
	}
	out := []respond.Allowlist{own}
	if dir := cfg.Detect.Intel.WarningLists; dir != "" {
		wl, err := intel.LoadWarningLists(dir)
		if err != nil {
			return nil, fmt.Errorf("load MISP warning lists: %w", err)
		}
		out = append(out, respond.AllowlistFunc(func(p netip.Prefix) (string, bool) {
			if p.IsSingleIP() {
				return wl.Check(&intel.Indicator{Kind: intel.KindIP, Value: p.Addr().String()})
			}
			return wl.Check(&intel.Indicator{Kind: intel.KindCIDR, Value: p.String()})
		}))
	}
	return out, nil
}

// journalDecision keeps a decision's every change in the archive.
func (n *Node) journalDecision(d respond.Decision) {
	actor := d.UpdatedBy
	if actor == "" {
		actor = d.CreatedBy
	}
	at := d.Updated
	if at.IsZero() {
		at = d.Created
	}
	if err := n.Journal.Record(d.Tenant, "omamori.decision", string(d.Status), actor, at, d.View(at)); err != nil {
		n.log.Error("decision not journaled", "id", d.ID, "err", err)
	}
}

// startEnforcer sets up nftables on this machine, brings it to the live decisions in the
// store, and returns what applies each later change. Changes are applied in order by one
// goroutine, so the respond service never waits for the kernel.
func (n *Node) startEnforcer(ctx context.Context, cfg *config.Config, tenants []string) (func(context.Context, respond.Decision), error) {
	nc := nft.Config{Logger: n.log}
	for _, s := range cfg.Respond.Management {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("respond.management: %w", err)
		}
		nc.Management = append(nc.Management, p.Masked())
	}
	if cfg.Respond.Netns != "" {
		// The enforcer works in the gateway's namespace through this file; it stays open
		// while the enforcer runs.
		ns, err := os.Open(cfg.Respond.Netns)
		if err != nil {
			return nil, fmt.Errorf("respond.nftables_netns: %w", err)
		}
		nc.NetNS = int(ns.Fd())
		n.goServe("nftables-netns", func() error { <-ctx.Done(); return ns.Close() })
	}
	en, err := nft.New(nc)
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	if err := en.Setup(ctx); err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	now := time.Now()
	var blocks, isolated []nft.Entry
	for _, t := range tenants {
		ds, err := n.Store.Tenant(t).Decisions(ctx, store.DecisionFilter{Live: now})
		if err != nil {
			return nil, fmt.Errorf("nftables: live decisions of %s: %w", t, err)
		}
		for _, sd := range ds {
			d := respond.FromStore(sd)
			p, ok := d.Prefix()
			if !ok {
				continue
			}
			e := nft.Entry{Prefix: p, TTL: d.Expires.Sub(now)}
			if d.Action == respond.ActionIsolate {
				isolated = append(isolated, e)
			} else {
				blocks = append(blocks, e)
			}
		}
	}
	if err := en.Reconcile(ctx, blocks); err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	if err := en.ReconcileIsolated(ctx, isolated); err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	changes := make(chan respond.Decision, 4096)
	n.goServe("nftables", func() error {
		defer en.Close()
		for {
			select {
			case <-ctx.Done():
				return nil
			case d := <-changes:
				if err := applyDecision(ctx, en, d); err != nil {
					n.log.Error("decision not enforced in nftables", "id", d.ID, "value", d.Value, "err", err)
				}
			}
		}
	})
	return func(ctx context.Context, d respond.Decision) {
		select {
		case changes <- d:
		case <-ctx.Done():
		}
	}, nil
}

// enforced reports whether a change of d is one the enforcers act on: d is in force, or ends
// after having been. A decision never active — held, rejected, or revoked while held — is
// none of theirs: the kernel has nothing of it to remove, and a receiver that acts on what it
// is sent must not hear of a ventilator's isolation a guardrail holds.
func enforced(d respond.Decision) bool { return !d.DryRun && !d.Activated.IsZero() }

func applyDecision(ctx context.Context, en *nft.Enforcer, d respond.Decision) error {
	p, ok := d.Prefix()
	if !ok || !enforced(d) {
		return nil
	}
	now := time.Now()
	isolate := d.Action == respond.ActionIsolate
	if !d.Live(now) {
		if isolate {
			return en.Release(ctx, []netip.Prefix{p})
		}
		return en.Unblock(ctx, []netip.Prefix{p})
	}
	e := []nft.Entry{{Prefix: p, TTL: d.Expires.Sub(now)}}
	if isolate {
		return en.Isolate(ctx, e)
	}
	return en.Block(ctx, e)
}

// startWebhooks starts the sender of decisions to the configured receivers (nil: none), each
// delivery kept in the archive. A receiver is sent only what is enforced unless its events
// are all.
func (n *Node) startWebhooks(ctx context.Context, cfg *config.Config) *webhook.Sender {
	if len(cfg.Respond.Webhooks) == 0 {
		return nil
	}
	wc := webhook.Config{Log: n.log.With("component", "webhook"), Delivered: func(d webhook.Delivery) {
		if err := n.Journal.Record(d.Tenant, "omamori.webhook", "deliver", "omamori", d.Time, d); err != nil {
			n.log.Error("webhook delivery not journaled", "target", d.Target, "err", err)
		}
	}}
	for _, w := range cfg.Respond.Webhooks {
		t := webhook.Target{Name: w.Name, URL: w.URL, All: w.Events == "all"}
		if w.Token != "" {
			t.Header = http.Header{"Authorization": {"Bearer " + w.Token}}
		}
		wc.Targets = append(wc.Targets, t)
	}
	s := webhook.New(wc)
	n.goServe("webhooks", func() error { s.Run(ctx); return nil })
	return s
}
