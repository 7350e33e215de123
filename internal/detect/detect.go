// Package detect is the detection stage of the data path. It follows the EVENTS stream with a
// durable consumer of its own (the Stage is a bus.Handler), runs every event through the compiled Sigma rules (the
// hospital rules omamori ships, and SigmaHQ's when configured) and their correlations,
// through the behavioural detectors (package behavior) and against threat-intelligence
// indicators (package intel), and publishes what they find as
// Alerts on the ALERTS stream, where response and incidents take them up.
//
// An alert names its rule, severity, ATT&CK techniques, the entities involved (source,
// destination, user, host) and the events behind it (their bus position). Alerts are
// de-duplicated per rule and entities within a window, so a flood stays readable: the next
// alert after the window says how many were held back.
package detect

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omamori-project/omamori/internal/behavior"
	"github.com/omamori-project/omamori/internal/bus"
	"github.com/omamori-project/omamori/internal/event"
	"github.com/omamori-project/omamori/internal/intel"
	"github.com/omamori-project/omamori/internal/severity"
	"github.com/omamori-project/omamori/internal/sigma"
)

// Alert is one detection, as published on the ALERTS stream (JSON).
type Alert struct {
	ID         string         `json:"id"`
	Tenant     string         `json:"tenant"`
	Detector   string         `json:"detector"` // "sigma", "sigma-correlation", "behavior" or "intel"
	RuleID     string         `json:"rule_id"`
	Title      string         `json:"title"`
	Level      severity.Level `json:"level"`
	Techniques []string       `json:"techniques,omitempty"`
	Entities   Entities       `json:"entities"`
	// Related are other addresses the entities are known by: the Internet address behind a
	// VPN tunnel address, so that what the attacker does inside joins what they did to get in.
	Related    []string   `json:"related,omitempty"`
	First      time.Time  `json:"first"` // the first and last event behind the alert
	Last       time.Time  `json:"last"`
	Count      int        `json:"count"`                // events behind it
	Suppressed int        `json:"suppressed,omitempty"` // alerts like it held back since the last one
	Evidence   []Evidence `json:"evidence,omitempty"`
}

// ParseAlert reads the alert of an ALERTS message and checks it is the tenant's that the
// message's subject names: the subject, which the publisher's credentials decide, says whose
// alert it is, and an alert whose body claims another tenant is refused. Every reader of
// ALERTS (response, incidents, the web UI) reads alerts with it.
func ParseAlert(m bus.Msg) (Alert, error) {
	var a Alert
	if err := json.Unmarshal(m.Data, &a); err != nil {
		return Alert{}, fmt.Errorf("decode alert %d: %w", m.Seq, err)
	}
	if a.Tenant != m.Tenant {
		return Alert{}, fmt.Errorf("alert %d names tenant %q on the subject of tenant %q", m.Seq, a.Tenant, m.Tenant)
	}
	return a, nil
}

// Entities are who and what an alert is about.
type Entities struct {
	Source      string `json:"source,omitempty"` // an address
	Destination string `json:"destination,omitempty"`
	User        string `json:"user,omitempty"`
	Host        string `json:"host,omitempty"`
}

// Evidence points at an event behind an alert: its bus message and place in the batch, so
// the archive (which keeps the same batches) and search can find it.
type Evidence struct {
	Seq     uint64    `json:"seq"`
	Index   int       `json:"index"`
	Time    time.Time `json:"time"`
	Message string    `json:"message,omitempty"`
}

// ConsumerName is the durable consumer the stage follows EVENTS with.
const ConsumerName = "detect"

// AlertPublisher puts an alert, JSON, on the ALERTS stream under its tenant's subject, and
// returns once it is durable there: *bus.Bus.
type AlertPublisher interface {
	PublishAlert(ctx context.Context, tenant string, data []byte) error
}

// Config tunes the stage. Zero values take the defaults.
type Config struct {
	// MinLevel is the lowest rule level that raises an alert (default low): informational
	// rules such as one failed VPN login feed correlations without an alert each.
	MinLevel severity.Level
	// Window is how long alerts of one rule about the same entities are held back after one
	// was raised (default 10 minutes).
	Window time.Duration
	// Alerts is where Handle publishes the alerts it raises: the bus's ALERTS. Without it
	// they wait for Take.
	Alerts AlertPublisher
	// Behavior holds the thresholds of the behavioural detectors; nil runs the rules alone.
	Behavior *behavior.Config
}

// Stage runs the rules over the stream. It is used by one goroutine at a time: the consumer's,
// which calls Handle.
type Stage struct {
	rules   *sigma.Ruleset
	engines map[string]*behavior.Engine // behavioural detectors per tenant: state never mixes hospitals
	found   []behavior.Finding
	intel   atomic.Pointer[intel.Set]
	hits    []intel.Hit
	tunnels map[string]map[netip.Addr]netip.Addr // per tenant: VPN tunnel address → the remote address it was given to
	cfg     Config
	min     severity.Level
	log     *slog.Logger
	matcher *sigma.Matcher
	corr    map[string]*sigma.Correlator // per tenant: correlations never mix hospitals
	seen    map[string]*recent           // de-duplication, by tenant, rule and entities
	pending []Alert
	alerts  *prometheus.CounterVec
	held    prometheus.Counter
}

type recent struct {
	until      time.Time // alerts of this key are held back until then
	suppressed int
}

// New returns a stage that runs rules and, when cfg.Behavior is set, the behavioural
// detectors. Metrics go to reg (nil: none).
func New(rules *sigma.Ruleset, cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Stage, error) {
	if cfg.MinLevel == "" {
		cfg.MinLevel = severity.Low
	}
	if cfg.Window <= 0 {
		cfg.Window = 10 * time.Minute
	}
	min, err := severity.Parse(string(cfg.MinLevel))
	if err != nil {
		return nil, fmt.Errorf("detect: %w", err)
	}
	if cfg.Behavior != nil {
		if err := cfg.Behavior.Validate(); err != nil {
			return nil, fmt.Errorf("detect: %w", err)
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Stage{
		rules: rules, engines: map[string]*behavior.Engine{}, tunnels: map[string]map[netip.Addr]netip.Addr{}, cfg: cfg, min: min, log: log.With("component", "detect"),
		matcher: rules.NewMatcher(), corr: map[string]*sigma.Correlator{}, seen: map[string]*recent{},
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omamori_alerts_total", Help: "Alerts raised, by level.",
		}, []string{"level"}),
		held: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "omamori_alerts_held_back_total", Help: "Alerts held back as repeats within the de-duplication window.",
		}),
	}
	if reg != nil {
		if err := reg.Register(s.alerts); err != nil {
			return nil, fmt.Errorf("detect: register metrics: %w", err)
		}
		if err := reg.Register(s.held); err != nil {
			return nil, fmt.Errorf("detect: register metrics: %w", err)
		}
	}
	return s, nil
}

// Handle runs the events of a group of EVENTS messages (batches in the bus encoding) through
// the detectors and publishes the alerts they raise to Config.Alerts, and returns once they
// are published: the group is acknowledged only then, so a crash repeats alerts rather than
// losing them. Correlation windows live in memory and start afresh after a restart.
func (s *Stage) Handle(ctx context.Context, msgs []bus.Msg) error {
	for _, m := range msgs {
		i := 0
		err := event.DecodeBatch(m.Data, func(e *event.Event) error {
			s.Observe(m.Seq, i, e)
			i++
			return nil
		})
		if err != nil {
			// The archive keeps the undecodable batch; detection can only say so.
			s.log.Warn("batch does not decode; its events are not checked", "seq", m.Seq, "err", err)
		}
	}
	if s.cfg.Alerts == nil {
		return nil
	}
	for _, a := range s.Take() {
		data, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("detect: encode alert: %w", err)
		}
		if err := s.cfg.Alerts.PublishAlert(ctx, a.Tenant, data); err != nil {
			return err
		}
	}
	return nil
}

// Observe runs one event through the rules; the alerts it raises wait for Take. seq and index
// say where the event is on the bus.
func (s *Stage) Observe(seq uint64, index int, e *event.Event) {
	ev := Evidence{Seq: seq, Index: index, Time: e.Time, Message: e.Message}
	s.learnTunnel(e)
	if s.cfg.Behavior != nil {
		s.behave(e, ev)
	}
	if set := s.intel.Load(); set != nil {
		s.indicate(set, e, ev)
	}
	matches := s.matcher.Match(e, nil)
	if len(matches) == 0 {
		return
	}
	for _, m := range matches {
		a := s.newAlert(e.Tenant, "sigma", m.Rule, e.Time, e.Time, 1)
		a.Entities = entities(e.User, e.Host, e.SrcIP, e.DstIP, "")
		a.Evidence = []Evidence{ev}
		s.raise(a)
	}
	c := s.corr[e.Tenant]
	if c == nil {
		c = s.rules.NewCorrelator()
		s.corr[e.Tenant] = c
	}
	for _, cm := range c.Observe(matches, s.rules) {
		a := s.newAlert(e.Tenant, "sigma-correlation", cm.Rule, cm.First, cm.Last, cm.Events)
		a.Entities = entitiesOf(cm.Group)
		a.Evidence = []Evidence{ev} // the event that completed it
		s.raise(a)
	}
}

// SetIntel swaps in the threat-intelligence indicators that events are checked against from
// now on (nil: none). It is safe to call while Handle runs: feeds refresh on their own schedule.
func (s *Stage) SetIntel(set *intel.Set) { s.intel.Store(set) }

// indicate raises an alert for every indicator e matches. The level follows the indicator's
// confidence: a feed's guess is not a certainty, and a responder should see which is which.
func (s *Stage) indicate(set *intel.Set, e *event.Event, ev Evidence) {
	s.hits = set.Match(e, s.hits[:0])
	for _, h := range s.hits {
		in := h.Indicator
		level := severity.Medium
		switch {
		case in.Confidence >= 80:
			level = severity.High
		case in.Confidence >= 0 && in.Confidence < 50:
			level = severity.Low
		}
		name := in.Name
		if name == "" {
			name = in.Source
		}
		a := s.newAlert(e.Tenant, "intel", sigma.RuleInfo{ID: "intel." + in.ID, Title: fmt.Sprintf("Known-bad %s %s (%s)", h.Field, h.Value, name), Level: level}, e.Time, e.Time, 1)
		dstName := "" // a domain or URL indicator names the destination when no address does
		if h.Field != "source.ip" {
			dstName = h.Value
		}
		a.Entities = entities(e.User, e.Host, e.SrcIP, e.DstIP, dstName)
		a.Evidence = []Evidence{ev}
		s.raise(a)
	}
}

// behave runs the behavioural detectors on e and raises their findings.
func (s *Stage) behave(e *event.Event, ev Evidence) {
	en := s.engines[e.Tenant]
	if en == nil {
		var err error
		if en, err = behavior.New(*s.cfg.Behavior, behavior.Shard{}); err != nil {
			panic(err) // unreachable: New validated the config
		}
		s.engines[e.Tenant] = en
	}
	s.found = en.Observe(s.found[:0], e)
	observed := len(s.found) // findings of this event; a beacon sweep's are of the whole window
	s.found = en.Sweep(s.found, e.Time)
	for i, f := range s.found {
		a := s.newAlert(e.Tenant, "behavior", sigma.RuleInfo{ID: "behavior." + f.Detector, Title: f.Title, Level: f.Severity}, f.First, f.Last, f.Count)
		if f.Technique != "" {
			a.Techniques = []string{f.Technique}
		}
		a.Entities = entities(f.User, f.Host, f.Source, f.Destination, f.Domain)
		if i < observed {
			a.Evidence = []Evidence{ev}
		}
		s.raise(a)
	}
}

// entities names who an alert is about; a destination without an address may be a name.
func entities(user, host string, src, dst netip.Addr, dstName string) Entities {
	en := Entities{User: user, Host: host, Destination: dstName}
	if src.IsValid() {
		en.Source = src.String()
	}
	if dst.IsValid() {
		en.Destination = dst.String()
	}
	return en
}

// maxTunnels bounds the tunnels remembered per tenant; beyond it the map starts afresh, which
// only loses links for sessions older than the busiest VPN's day.
const maxTunnels = 1 << 16

// learnTunnel remembers which remote address a VPN tunnel address was given to (a VPN login
// that names both, such as FortiGate's SSL-VPN tunnel-up), and forgets it when the tunnel
// goes down.
func (s *Stage) learnTunnel(e *event.Event) {
	if e.Action != "vpn_login" && e.Action != "vpn_logout" {
		return
	}
	v, ok := e.Get(event.KeyTunnelIP)
	if !ok {
		return
	}
	tun, err := netip.ParseAddr(v)
	if err != nil || !e.SrcIP.IsValid() {
		return
	}
	m := s.tunnels[e.Tenant]
	if m == nil || len(m) >= maxTunnels {
		m = map[netip.Addr]netip.Addr{}
		s.tunnels[e.Tenant] = m
	}
	if e.Action == "vpn_logout" {
		delete(m, tun)
		return
	}
	if e.Outcome == event.OutcomeSuccess {
		m[tun] = e.SrcIP
	}
}

// relate names the remote addresses behind the VPN tunnel addresses an alert is about.
func (s *Stage) relate(a *Alert) {
	m := s.tunnels[a.Tenant]
	if len(m) == 0 {
		return
	}
	for _, v := range []string{a.Entities.Source, a.Entities.Destination} {
		if ip, err := netip.ParseAddr(v); err == nil {
			if remote, ok := m[ip]; ok && !slices.Contains(a.Related, remote.String()) {
				a.Related = append(a.Related, remote.String())
			}
		}
	}
}

// Take returns the alerts raised since the last call.
func (s *Stage) Take() []Alert {
	out := s.pending
	s.pending = nil
	return out
}

func (s *Stage) newAlert(tenant, detector string, r sigma.RuleInfo, first, last time.Time, count int) Alert {
	return Alert{ID: newID(last), Tenant: tenant, Detector: detector, RuleID: r.ID, Title: r.Title,
		Level: r.Level, Techniques: r.Techniques(), First: first, Last: last, Count: count}
}

// raise keeps a for Take unless its level is below the minimum or an alert like it was raised
// within the window.
func (s *Stage) raise(a Alert) {
	if !a.Level.AtLeast(s.min) {
		return
	}
	key := a.Tenant + "\x00" + a.RuleID + "\x00" + a.Entities.Source + "\x00" + a.Entities.Destination + "\x00" + a.Entities.User + "\x00" + a.Entities.Host
	if r := s.seen[key]; r != nil && a.Last.Before(r.until) {
		r.suppressed++
		s.held.Inc()
		return
	}
	if r := s.seen[key]; r != nil {
		a.Suppressed = r.suppressed
	}
	s.seen[key] = &recent{until: a.Last.Add(s.cfg.Window)}
	if len(s.seen) > 100_000 {
		s.forget(a.Last)
	}
	s.relate(&a)
	s.alerts.WithLabelValues(string(a.Level)).Inc()
	s.pending = append(s.pending, a)
}

// forget drops de-duplication entries whose window has passed, bounding memory under floods
// of distinct entities.
func (s *Stage) forget(now time.Time) {
	for k, r := range s.seen {
		if now.After(r.until) {
			delete(s.seen, k)
		}
	}
}

// entitiesOf reads a correlation's group-by values: an address is the source, a field named
// for a user is the user, anything else names the host.
func entitiesOf(group map[string]string) Entities {
	var en Entities
	for _, k := range slices.Sorted(maps.Keys(group)) {
		v := group[k]
		lk := strings.ToLower(k)
		switch {
		case isAddr(v) && en.Source == "":
			en.Source = v
		case strings.Contains(lk, "user") && en.User == "":
			en.User = v
		case en.Host == "":
			en.Host = v
		}
	}
	return en
}

func isAddr(s string) bool { _, err := netip.ParseAddr(s); return err == nil }

// newID returns a sortable alert ID: the time in hex, then 8 random bytes.
func newID(t time.Time) string {
	var b [8]byte
	rand.Read(b[:])
	return fmt.Sprintf("%016x-%s", t.UnixNano(), hex.EncodeToString(b[:]))
}
