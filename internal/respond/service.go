package respond

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/omamori-project/omamori/internal/decision"
	"github.com/omamori-project/omamori/internal/detect"
	"github.com/omamori-project/omamori/internal/store"
)

// Config is what the service needs from the configuration.
type Config struct {
	Policies []Policy
	// DryRun records what would have been done, with Decision.DryRun set, and enforces
	// nothing: for a hospital's first weeks, to see what the policies would block.
	DryRun bool
	// Changed, if set, is called after every decision is created or changed (a new decision,
	// an approval, a revocation, an expiry), so that an in-process enforcer or the bus can
	// follow. It is called from the goroutine that made the change and should not block.
	Changed func(ctx context.Context, d decision.Decision)
	Log     *slog.Logger
	Now     func() time.Time // default time.Now
}

// Service makes and changes decisions for every tenant. It is safe for concurrent use.
type Service struct {
	st       *store.Store
	policies []Policy
	dryRun   bool
	changed  func(context.Context, decision.Decision)
	log      *slog.Logger
	now      func() time.Time

	mu     sync.RWMutex
	guards map[string]*Guardrails // tenant → guardrails

	// targets serialise the look-up-then-create of decisions on one target, so that two
	// alerts about one attacker at once make one decision; striped by hash to stay small.
	targets [64]sync.Mutex
}

// New returns a service over the store, after checking the policies.
func New(st *store.Store, cfg Config) (*Service, error) {
	for _, p := range cfg.Policies {
		if err := p.Validate(); err != nil {
			return nil, err
		}
	}
	s := &Service{st: st, policies: slices.Clone(cfg.Policies), dryRun: cfg.DryRun, changed: cfg.Changed,
		log: cfg.Log, now: cfg.Now, guards: map[string]*Guardrails{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "respond")
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// SetGuardrails sets a tenant's guardrails, replacing any before. A tenant without
// guardrails has no asset inventory, so all its automatic decisions are held.
func (s *Service) SetGuardrails(tenant string, g *Guardrails) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.guards[tenant] = g
}

func (s *Service) guardrails(tenant string) *Guardrails {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.guards[tenant]
}

// hostAddr returns the address of a host that an alert names by name (Windows events name
// EHR-DB01, not its address), when the tenant's inventory holds exactly one device of that
// name; otherwise host unchanged.
func (s *Service) hostAddr(tenant, host string) string {
	if _, err := netip.ParseAddr(host); err == nil || host == "" {
		return host
	}
	g := s.guardrails(tenant)
	if g == nil || g.Assets == nil {
		return host
	}
	if as := g.Assets.Named(host); len(as) == 1 && as[0].Prefix.IsSingleIP() {
		return as[0].Addr().String()
	}
	return host
}

func (s *Service) notify(ctx context.Context, d decision.Decision) {
	if s.changed != nil {
		s.changed(ctx, d)
	}
}

// OnAlert applies the policies to an alert and returns the decisions made, each through the
// guardrails: active, held or rejected. An alert that repeats one already acted on extends
// the active decision instead of adding another, and adds nothing while one is held. A
// policy that matches but cannot act (the alert lacks the address it acts on) is reported in
// the error, next to whatever the other policies decided.
func (s *Service) OnAlert(ctx context.Context, a detect.Alert) ([]decision.Decision, error) {
	var out []decision.Decision
	var errs []error
	for _, p := range s.policies {
		if !p.Matches(a) {
			continue
		}
		d, err := s.decide(ctx, p, a)
		if err != nil {
			errs = append(errs, err)
		} else {
			out = append(out, d)
		}
		if !p.Continue {
			break
		}
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("respond to alert %s: %w", a.ID, errors.Join(errs...))
	}
	return out, nil
}

func (s *Service) decide(ctx context.Context, p Policy, a detect.Alert) (decision.Decision, error) {
	now := s.now()
	if p.Target == EntityHost {
		a.Entities.Host = s.hostAddr(a.Tenant, a.Entities.Host)
	}
	d, err := p.Propose(a, now)
	if err != nil {
		return decision.Decision{}, err
	}
	if err := normalize(&d); err != nil {
		return decision.Decision{}, fmt.Errorf("policy %s: %w", p.Name, err)
	}
	v := s.guardrails(a.Tenant).Check(d)
	d.Status, d.Guardrail, d.DryRun = v.Status, v.String(), s.dryRun
	actor := "rule:" + a.RuleID
	sc := s.st.Tenant(a.Tenant)
	h := fnv.New32a()
	h.Write([]byte(a.Tenant + "\x00" + string(d.Action) + "\x00" + d.Value))
	lock := &s.targets[h.Sum32()%uint32(len(s.targets))]
	lock.Lock()
	defer lock.Unlock()

	// One standing decision per target: a repeated alert extends it, or waits with it. A
	// decision a guardrail objects to is never extended by an alert: a person approved it for
	// its duration, and only a person who may approve can make that longer (Extend).
	existing, err := sc.Decisions(ctx, store.DecisionFilter{Action: d.Action, Scope: d.Scope, Value: d.Value,
		Status: []decision.Status{decision.StatusActive, decision.StatusHeld, decision.StatusRejected}})
	if err != nil {
		return decision.Decision{}, err
	}
	for _, e := range slices.Backward(existing) {
		if e.DryRun != d.DryRun || (e.Status != decision.StatusHeld && !e.Expires.After(now)) {
			continue
		}
		if e.Status != decision.StatusActive || !d.Expires.After(e.Expires) || v.Status != decision.StatusActive || e.Guardrail != "" {
			return e, nil
		}
		got, err := sc.UpdateDecision(ctx, actor, e.ID, "decision.extend", func(sd *decision.Decision) error {
			if sd.Status != decision.StatusActive {
				return fmt.Errorf("%w: decision %d is %s", ErrState, sd.ID, sd.Status)
			}
			sd.Expires = d.Expires
			sd.Note = fmt.Sprintf("extended by alert %s", a.ID)
			return nil
		})
		if err != nil {
			return decision.Decision{}, err
		}
		ext := got
		s.notify(ctx, ext)
		return ext, nil
	}

	got, err := sc.CreateDecision(ctx, actor, d)
	if err != nil {
		return decision.Decision{}, err
	}
	d = got
	s.log.LogAttrs(ctx, slog.LevelInfo, "decision", slog.Int64("id", d.ID), slog.String("tenant", d.Tenant),
		slog.String("action", string(d.Action)), slog.String("value", d.Value), slog.String("status", string(d.Status)),
		slog.String("guardrail", d.Guardrail), slog.Bool("dry_run", d.DryRun), slog.String("alert", a.ID))
	s.notify(ctx, d)
	return d, nil
}

// Request is a decision a person asks for by API or CLI.
type Request struct {
	Action decision.Action
	Scope  decision.Scope
	Value  string
	TTL    time.Duration
	Reason string // required: why, for the record
	// Authority and Reference, when set, record the decision as an authority's request (the
	// police, the national CERT) with its reference number.
	Authority string
	Reference string
	AlertID   string // the alert it answers, if any
}

// Add makes a person's decision. The guardrails apply to it too: what they object to is held
// for an approver, who approves it (Approve) on the web UI signed in with a second factor.
// There is no way to add a decision past a guardrail: whoever adds it, the hold is the
// record that a second person looked.
func (s *Service) Add(ctx context.Context, tenant string, who Person, r Request) (decision.Decision, error) {
	if err := who.may(tenant, "add a decision"); err != nil {
		return decision.Decision{}, err
	}
	now := s.now()
	d := decision.Decision{Tenant: tenant, Action: r.Action, Scope: r.Scope, Value: r.Value, TTL: r.TTL, Expires: now.Add(r.TTL),
		Reason: r.Reason, Origin: decision.Origin{Kind: decision.OriginPerson, Name: who.Name}, AlertID: r.AlertID, Status: decision.StatusActive,
		Created: now, DryRun: s.dryRun}
	if r.Authority != "" || r.Reference != "" {
		if r.Authority == "" || r.Reference == "" {
			return decision.Decision{}, fmt.Errorf("%w: an authority's request needs both the authority and its reference number", ErrInvalid)
		}
		d.Origin = decision.Origin{Kind: decision.OriginAuthority, Name: r.Authority, Reference: r.Reference}
	}
	if r.Reason == "" {
		return decision.Decision{}, fmt.Errorf("%w: a decision needs a reason, for the record", ErrInvalid)
	}
	if err := normalize(&d); err != nil {
		return decision.Decision{}, err
	}
	if v := s.guardrails(tenant).Check(d); v.Status != decision.StatusActive {
		d.Status, d.Guardrail = decision.StatusHeld, v.String()
	}
	got, err := s.st.Tenant(tenant).CreateDecision(ctx, who.Actor(), d)
	if err != nil {
		return decision.Decision{}, err
	}
	d = got
	s.notify(ctx, d)
	return d, nil
}

// Approve enforces a held decision from now for its full duration. Only an approver signed in
// with a second factor may approve; anyone else gets ErrNotAllowed, and a decision that is
// not held ErrState.
func (s *Service) Approve(ctx context.Context, tenant string, who Person, id int64, note string) (decision.Decision, error) {
	if err := who.mayApprove(tenant, "approve a decision"); err != nil {
		return decision.Decision{}, fmt.Errorf("approve decision %d: %w", id, err)
	}
	return s.change(ctx, tenant, who, id, "approve", func(d *decision.Decision, now time.Time) error {
		if d.Status != decision.StatusHeld {
			return fmt.Errorf("%w: decision %d is %s; only a held decision can be approved", ErrState, d.ID, d.Status)
		}
		d.Status, d.Expires = decision.StatusActive, now.Add(d.TTL)
		d.Note = note
		return nil
	})
}

// Reject refuses a held decision for good; only an approver signed in with a second factor may.
func (s *Service) Reject(ctx context.Context, tenant string, who Person, id int64, note string) (decision.Decision, error) {
	if err := who.mayApprove(tenant, "reject a decision"); err != nil {
		return decision.Decision{}, fmt.Errorf("reject decision %d: %w", id, err)
	}
	return s.change(ctx, tenant, who, id, "reject", func(d *decision.Decision, _ time.Time) error {
		if d.Status != decision.StatusHeld {
			return fmt.Errorf("%w: decision %d is %s; only a held decision can be rejected", ErrState, d.ID, d.Status)
		}
		d.Status, d.Note = decision.StatusRejected, note
		return nil
	})
}

// Revoke lifts an active or held decision: the enforcers remove it.
func (s *Service) Revoke(ctx context.Context, tenant string, who Person, id int64, note string) (decision.Decision, error) {
	return s.change(ctx, tenant, who, id, "revoke", func(d *decision.Decision, _ time.Time) error {
		if d.Status != decision.StatusActive && d.Status != decision.StatusHeld {
			return fmt.Errorf("%w: decision %d is already %s", ErrState, d.ID, d.Status)
		}
		d.Status, d.Note = decision.StatusRevoked, note
		return nil
	})
}

// Extend makes an active decision apply for ttl from now (longer or shorter than before). A
// decision a guardrail objected to — held, then approved — was approved for its duration, so
// changing it takes what approving takes (ErrNotAllowed for anyone else); so does one the
// guardrails object to now, the inventory having changed since it was made.
func (s *Service) Extend(ctx context.Context, tenant string, who Person, id int64, ttl time.Duration, note string) (decision.Decision, error) {
	if ttl <= 0 {
		return decision.Decision{}, fmt.Errorf("%w: duration %v must be positive", ErrInvalid, ttl)
	}
	g := s.guardrails(tenant)
	return s.change(ctx, tenant, who, id, "extend", func(d *decision.Decision, now time.Time) error {
		if d.Status != decision.StatusActive {
			return fmt.Errorf("%w: decision %d is %s; only an active decision can be extended", ErrState, d.ID, d.Status)
		}
		if v := g.Check(*d); d.Guardrail != "" || v.Status != decision.StatusActive {
			if err := who.mayApprove(tenant, "extend a decision a guardrail held"); err != nil {
				return err
			}
		}
		d.Expires, d.Note = now.Add(ttl), note
		return nil
	})
}

func (s *Service) change(ctx context.Context, tenant string, who Person, id int64, verb string, f func(*decision.Decision, time.Time) error) (decision.Decision, error) {
	if err := who.may(tenant, verb+" a decision"); err != nil {
		return decision.Decision{}, fmt.Errorf("%s decision %d: %w", verb, id, err)
	}
	now := s.now()
	got, err := s.st.Tenant(tenant).UpdateDecision(ctx, who.Actor(), id, "decision."+verb,
		func(d *decision.Decision) error { return f(d, now) })
	if err != nil {
		return decision.Decision{}, fmt.Errorf("%s: %w", verb, err)
	}
	d := got
	s.notify(ctx, d)
	return d, nil
}

// Get returns one of the tenant's decisions; store.ErrNotFound if it has none by that ID.
func (s *Service) Get(ctx context.Context, tenant string, id int64) (decision.Decision, error) {
	d, err := s.st.Tenant(tenant).Decision(ctx, id)
	if err != nil {
		return decision.Decision{}, err
	}
	return d, nil
}

// List returns the tenant's decisions that pass f. Held ones show how long they have waited
// through Decision.Waiting.
func (s *Service) List(ctx context.Context, tenant string, f store.DecisionFilter) ([]decision.Decision, error) {
	ds, err := s.st.Tenant(tenant).Decisions(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]decision.Decision, len(ds))
	for i, d := range ds {
		out[i] = (d)
	}
	return out, nil
}

// Expire marks every tenant's decisions whose time is up as expired, as "system", and
// returns how many.
func (s *Service) Expire(ctx context.Context) (int, error) {
	tenants, err := s.st.Tenants(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range tenants {
		ds, err := s.st.Tenant(t.ID).ExpireDecisions(ctx, "system", s.now())
		if err != nil {
			return n, err
		}
		for _, d := range ds {
			s.notify(ctx, d)
		}
		n += len(ds)
	}
	return n, nil
}

// Run expires decisions every interval until ctx ends, logging what fails.
func (s *Service) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if n, err := s.Expire(ctx); err != nil {
				s.log.Error("expire decisions", "err", err)
			} else if n > 0 {
				s.log.Info("decisions expired", "count", n)
			}
		}
	}
}
