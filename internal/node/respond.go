package node

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/omamori-project/omamori/internal/asset"
	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/config"
	"github.com/omamori-project/omamori/internal/crowdsec"
	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/incident"
	"github.com/omamori-project/omamori/internal/intel"
	"github.com/omamori-project/omamori/internal/nft"
	"github.com/omamori-project/omamori/internal/respond"
	"github.com/omamori-project/omamori/internal/store"
	"github.com/omamori-project/omamori/internal/vuln"
	"github.com/omamori-project/omamori/internal/webhook"
)

// startResponse starts what follows ALERTS besides the archive, in the order each needs the
// one before: the inventories and allowlists the guardrails read; the respond service, which
// turns alerts into decisions under them, with the enforcers it tells of every change; the
// inventories' own route and their sync between nodes; the CrowdSec bouncer API and the
// decisions API; and incidents, which gather alerts into the SOC's workflow.
func (n *Node) startResponse(ctx context.Context, cfg *config.Config, tenants []string) error {
	if err := n.loadGuardrails(ctx, cfg, tenants); err != nil {
		return err
	}
	inv := n.inventories.get(cfg.Ingest.DefaultTenant) // as loaded, before other nodes' documents
	if err := n.startDecisions(ctx, cfg, tenants); err != nil {
		return err
	}
	n.startAssetSync(ctx)
	if err := n.mountBouncerAPI(cfg); err != nil {
		return err
	}
	n.mountDecisionsAPI()
	return n.startIncidents(ctx, cfg, inv)
}

// loadGuardrails loads what the guardrails protect: each tenant's device inventory, and the
// networks never blocked automatically.
func (n *Node) loadGuardrails(ctx context.Context, cfg *config.Config, tenants []string) error {
	n.inventories = &inventories{dir: filepath.Join(cfg.DataDir, "assets"), byTen: map[string]*asset.Inventory{}}
	if err := n.inventories.load(ctx, n.Store, tenants, cfg.Ingest.DefaultTenant, cfg.Respond.Assets); err != nil {
		return err
	}
	allow, err := allowlists(cfg)
	if err != nil {
		return err
	}
	n.allow = allow
	return nil
}

// startDecisions starts the respond service with its policies and each tenant's guardrails,
// the enforcers it tells of every change, its durable consumer of ALERTS and the expiry of
// its decisions.
func (n *Node) startDecisions(ctx context.Context, cfg *config.Config, tenants []string) error {
	changed, err := n.startEnforcers(ctx, cfg, tenants)
	if err != nil {
		return err
	}
	rcfg := respond.Config{DryRun: cfg.Respond.DryRun, Log: n.log, Changed: changed}
	for _, p := range cfg.Respond.Policies {
		rcfg.Policies = append(rcfg.Policies, respond.Policy{Name: p.Name, Rules: p.Rules, Detectors: p.Detectors,
			MinLevel: p.MinLevel, Action: decision.Action(p.Action), Target: respond.Entity(p.Target),
			Prefix: p.Prefix, PrefixV6: p.PrefixV6, TTL: p.TTL, Continue: p.Continue})
	}
	n.Respond, err = respond.New(n.Store, rcfg)
	if err != nil {
		return fmt.Errorf("respond: %w", err)
	}
	for _, t := range tenants {
		// A tenant without an inventory has all its automatic decisions held.
		g := &respond.Guardrails{Allow: n.allow, Assets: n.inventories.get(t)}
		n.Respond.SetGuardrails(t, g)
	}
	n.goServe("respond", func() error {
		return n.Bus.ConsumeAlerts(ctx, bus.ConsumeConfig{Durable: respond.ConsumerName}, n.Respond)
	})
	n.goServe("respond-expiry", func() error { return n.Respond.Run(ctx, time.Minute) })
	return nil
}

// startEnforcers starts what follows the decisions as they change — the journal in the
// archive, nftables when this machine is the gateway, the webhook receivers — and returns
// what tells them of a change. (CrowdSec bouncers pull decisions from the store.)
func (n *Node) startEnforcers(ctx context.Context, cfg *config.Config, tenants []string) (func(context.Context, decision.Decision), error) {
	var enforce func(context.Context, decision.Decision)
	if cfg.Respond.Nftables {
		var err error
		if enforce, err = n.startEnforcer(ctx, cfg, tenants); err != nil {
			return nil, err
		}
	}
	hooks := n.startWebhooks(ctx, cfg)
	return func(ctx context.Context, d decision.Decision) {
		n.journalDecision(d)
		if enforce != nil {
			enforce(ctx, d)
		}
		if hooks != nil && !d.DryRun {
			hooks.Send(d.Tenant, fmt.Sprintf("decision %d %s", d.ID, d.Status), d.Enforced(), d.View(time.Now()))
		}
	}, nil
}

// startAssetSync mounts the inventories' route and takes up, from the store, what other nodes
// were sent: from a minute before this one loaded (the clocks of nodes differ a little, and
// taking up a document twice does no harm).
func (n *Node) startAssetSync(ctx context.Context) {
	n.mountAssets()
	since := time.Now().Add(-time.Minute)
	n.goServe("documents", func() error { return n.followDocuments(ctx, since) })
}

// mountBouncerAPI serves CrowdSec bouncers the decisions at /v1/, each configured key for its
// tenant.
func (n *Node) mountBouncerAPI(cfg *config.Config) error {
	keys := map[string]crowdsec.Bouncer{}
	for _, b := range cfg.Respond.Bouncers {
		keys[b.Key] = crowdsec.Bouncer{Tenant: b.Tenant, Name: b.Name}
	}
	sk, err := crowdsec.NewStaticKeys(keys)
	if err != nil {
		return fmt.Errorf("respond.bouncers: %w", err)
	}
	n.API.Mount("/v1/", "bouncer key", crowdsec.NewHandler(n.Store, crowdsec.Config{Keys: sk, Log: n.log}))
	return nil
}

// mountDecisionsAPI serves the decisions API, and the vulnerability findings the decisions
// are often about. Scripts change decisions through it: a token
// with scope respond acts as a responder, never as an approver: approving what a guardrail
// held, or overriding it, is for a person signed in to the web UI with a second factor.
func (n *Node) mountDecisionsAPI() {
	rh := &respond.HTTP{Service: n.Respond, Log: n.log, Principal: func(r *http.Request) (string, respond.Person, error) {
		p, err := tokenPrincipal(r)
		if err != nil {
			return "", respond.Person{}, err
		}
		return p.Tenant, respond.ByToken(p), nil
	}}
	n.API.HandleRoutes(rh.Routes()...)
	vh := &vuln.HTTP{Store: n.Store, Principal: tokenActor, Log: n.log}
	n.API.HandleRoutes(vh.Routes()...)
}

// startIncidents starts the incidents service, which inv (the default tenant's inventory, or
// nil) tells the hosts' addresses and which are protected, with its durable consumer of
// ALERTS, its clocks and its API.
func (n *Node) startIncidents(ctx context.Context, cfg *config.Config, inv *asset.Inventory) error {
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
	var err error
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
	n.goServe("incidents", func() error {
		return n.Bus.ConsumeAlerts(ctx, bus.ConsumeConfig{Durable: incident.ConsumerName}, n.Incidents)
	})
	n.goServe("incident-clocks", func() error { return n.Incidents.RunClocks(ctx, 30*time.Second) })
	ih := &incident.HTTP{Service: n.Incidents, Log: n.log, Principal: tokenActor}
	n.API.HandleRoutes(ih.Routes()...)
	return nil
}

// notifier is who is told outside omamori — of incidents, and of break-glass accesses: the
// incidents' webhook, or nobody.
func notifier(cfg *config.Config) incident.Notifier {
	if cfg.Incidents.Webhook == "" {
		return nil
	}
	return &incident.Webhook{URL: cfg.Incidents.Webhook}
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
func (n *Node) journalDecision(d decision.Decision) {
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
// store, and returns what applies each later change through nft.Decisions. Changes are
// applied in order by one goroutine, so the respond service never waits for the kernel.
func (n *Node) startEnforcer(ctx context.Context, cfg *config.Config, tenants []string) (func(context.Context, decision.Decision), error) {
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
	var live []decision.Decision
	for _, t := range tenants {
		ds, err := n.Store.Tenant(t).Decisions(ctx, store.DecisionFilter{Live: now})
		if err != nil {
			return nil, fmt.Errorf("nftables: live decisions of %s: %w", t, err)
		}
		live = append(live, ds...)
	}
	decisions := nft.NewDecisions(en)
	if err := decisions.Load(ctx, live, now); err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	changes := make(chan decision.Decision, 4096)
	n.goServe("nftables", func() error {
		defer en.Close()
		for {
			select {
			case <-ctx.Done():
				return nil
			case d := <-changes:
				if err := decisions.Apply(ctx, d, time.Now()); err != nil {
					n.log.Error("decision not enforced in nftables", "id", d.ID, "value", d.Value, "err", err)
				}
			}
		}
	})
	return func(ctx context.Context, d decision.Decision) {
		select {
		case changes <- d:
		case <-ctx.Done():
		}
	}, nil
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
