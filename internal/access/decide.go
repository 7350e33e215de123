package access

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cedar-policy/cedar-go"
	"github.com/cedar-policy/cedar-go/types"
)

// The actions a request may ask for.
const (
	ActionView   = "view"
	ActionModify = "modify"
	ActionPrint  = "print"
	ActionExport = "export"
)

var actions = []string{ActionView, ActionModify, ActionPrint, ActionExport}

// Networks a device may be on.
const (
	NetworkWard = "ward" // the hospital LAN (院内LAN)
	NetworkVPN  = "vpn"  // the remote-access VPN
	NetworkHome = "home" // anywhere else: home, a hotel, the internet
)

var networks = []string{NetworkWard, NetworkVPN, NetworkHome}

// Sensitivity classes of a record.
const (
	SensitivityNormal     = "normal"
	SensitivityHigh       = "high"
	SensitivityRestricted = "restricted"
)

// restrictedTypes are data types that are special care-required personal information
// (要配慮個人情報) beyond the ordinary chart: restricted unless the caller says otherwise.
var restrictedTypes = []string{"psychiatric", "genetic", "hiv", "std", "substance_abuse", "reproductive", "abuse"}

// Obligations a decision can carry.
const (
	ObligationLog    = "log"                    // record the decision (every decision has it)
	ObligationNotify = "notify_privacy_officer" // tell the privacy officer now
	ObligationReview = "review"                 // queue the access for review
)

var knownObligations = []string{ObligationLog, ObligationNotify, ObligationReview}

// Shifts.
const (
	ShiftDay   = "day"
	ShiftNight = "night"
)

var (
	entityStaff  = types.EntityType("Staff")
	entityRole   = types.EntityType("Role")
	entityRecord = types.EntityType("Record")
	entityAction = types.EntityType("Action")
)

// Subject is who asks. Only ID is needed: the roster is the authority on role, department,
// qualifications and training, and a caller cannot raise its own role. The other fields
// are echoed from the roster into the Decision.
type Subject struct {
	ID             string    `json:"id"`
	Role           string    `json:"role,omitempty"`
	Department     string    `json:"department,omitempty"`
	Qualifications []string  `json:"qualifications,omitempty"`
	LastTraining   time.Time `json:"last_training,omitzero"`
}

// Device is the terminal the request comes from.
type Device struct {
	ID        string `json:"id,omitempty"`
	Managed   bool   `json:"managed"`
	Compliant bool   `json:"compliant"`
	Location  string `json:"location,omitempty"` // a ward, "outpatient", "home", ...
	Network   string `json:"network"`            // ward, vpn or home
}

// Resource is the part of a patient's record asked for.
type Resource struct {
	Patient     string `json:"patient"`
	DataType    string `json:"data_type"`             // chart, lab, prescription, imaging, psychiatric, genetic, hiv, ...
	Sensitivity string `json:"sensitivity,omitempty"` // normal, high, restricted; empty: from the data type
	Department  string `json:"department,omitempty"`  // the department treating the patient
}

// Request asks: may this subject do this action on this resource now?
type Request struct {
	// Time of the access. Zero means now; the HTTP handler always uses its own clock, so a
	// caller cannot ask about a time when a consultation was still open.
	Time     time.Time `json:"time,omitzero"`
	Subject  Subject   `json:"subject"`
	Action   string    `json:"action"`
	Resource Resource  `json:"resource"`
	Device   Device    `json:"device"`
	// Shift is day or night; empty means from the time and the decider's day shift.
	Shift     string `json:"shift,omitempty"`
	Emergency bool   `json:"emergency,omitempty"`
	// PurposeOfUse is an HL7 FHIR PurposeOfUse code: TREAT, ETREAT (emergency treatment),
	// BTG (break the glass), HPAYMT, HOPERAT, ...
	PurposeOfUse string `json:"purpose_of_use,omitempty"`
	// Reason is the reason given for breaking the glass.
	Reason string `json:"reason,omitempty"`
}

// Check reports what is wrong with r, worded for the EHR developer who sent it.
func (r *Request) Check() error {
	var errs []error
	if r.Subject.ID == "" {
		errs = append(errs, errors.New("subject.id is empty"))
	}
	if !slices.Contains(actions, r.Action) {
		errs = append(errs, fmt.Errorf("action %q is not one of %s", r.Action, strings.Join(actions, ", ")))
	}
	if r.Resource.Patient == "" {
		errs = append(errs, errors.New("resource.patient is empty"))
	}
	if r.Resource.DataType == "" {
		errs = append(errs, errors.New("resource.data_type is empty"))
	}
	if s := r.Resource.Sensitivity; s != "" && s != SensitivityNormal && s != SensitivityHigh && s != SensitivityRestricted {
		errs = append(errs, fmt.Errorf("resource.sensitivity %q is not normal, high or restricted", s))
	}
	if !slices.Contains(networks, r.Device.Network) {
		errs = append(errs, fmt.Errorf("device.network %q is not one of %s", r.Device.Network, strings.Join(networks, ", ")))
	}
	if r.Shift != "" && r.Shift != ShiftDay && r.Shift != ShiftNight {
		errs = append(errs, fmt.Errorf("shift %q is not day or night", r.Shift))
	}
	if len(r.Reason) > 2000 {
		errs = append(errs, errors.New("reason is longer than 2000 bytes"))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrRequest, errors.Join(errs...))
}

// ErrRequest is wrapped by the errors of a request that cannot be decided as sent.
var ErrRequest = errors.New("access: invalid request")

// DecisionSchema names the version of Decision's JSON form.
const DecisionSchema = "omamori.access.decision/1"

// Decision is the answer to a Request, in the form kept in the archive. Its JSON form is
// stable: fields are added, never renamed or removed, under DecisionSchema.
type Decision struct {
	Schema string    `json:"schema"`
	ID     string    `json:"id"` // unique; the review queue refers to it
	Time   time.Time `json:"time"`
	Tenant string    `json:"tenant"`
	// Subject as the roster knows them at Time.
	Subject     Subject  `json:"subject"`
	Action      string   `json:"action"`
	Resource    Resource `json:"resource"` // with the sensitivity that was applied
	Patient     string   `json:"patient"`
	Device      Device   `json:"device"`
	Shift       string   `json:"shift"`
	Purpose     string   `json:"purpose_of_use,omitempty"`
	Emergency   bool     `json:"emergency,omitempty"`
	Decision    string   `json:"decision"` // "allow" or "deny"
	Policies    []string `json:"policies"` // the policies that decided; empty for a default deny
	Obligations []string `json:"obligations"`
	Reason      string   `json:"reason"`
	// BreakGlass is set when only the emergency override allowed the access.
	BreakGlass       bool   `json:"break_glass,omitempty"`
	BreakGlassReason string `json:"break_glass_reason,omitempty"`
	// Relations are the need-to-know facts the directory gave the policies.
	Relations Relations `json:"relations"`
	// Errors are policy evaluation errors (a policy that could not be evaluated does not
	// permit; one that could not forbid is reported here).
	Errors []string `json:"errors,omitempty"`
}

// Relations are the need-to-know facts between subject and patient at the time.
type Relations struct {
	Assigned        bool  `json:"assigned"`
	CareTeam        bool  `json:"care_team"`
	Consultation    bool  `json:"consultation"`
	TrainingAgeDays int64 `json:"training_age_days"` // calendar days; about 20,000 if never trained
}

// Allowed reports whether d allows the access.
func (d *Decision) Allowed() bool { return d.Decision == "allow" }

// Recorder keeps decisions: the integrator appends them to the archive. RecordDecision is
// called once per decision, from many goroutines at once; it must not keep d's slices.
// An error is logged and does not change the decision: an access that has been decided is
// not undone because its record could not be written.
type Recorder interface {
	RecordDecision(ctx context.Context, d *Decision) error
}

// Options configure a Decider. The zero value is usable.
type Options struct {
	Policies  *Policies   // nil: DefaultPolicies
	Directory *Directory  // nil: an empty directory
	Reviews   ReviewQueue // where break-glass accesses wait for review; nil: none kept
	ReviewSLA time.Duration
	Recorder  Recorder // nil: decisions are only returned
	// Location is the hospital's time zone, for shifts and dates; nil: Asia/Tokyo.
	Location *time.Location
	// DayStart and DayEnd bound the day shift as offsets from local midnight; the rest is
	// night. Zero: 08:30 to 17:15 (日勤).
	DayStart, DayEnd time.Duration
	Log              *slog.Logger
	Now              func() time.Time // nil: time.Now
}

// DefaultReviewSLA is how long a break-glass access may wait for review by default.
const DefaultReviewSLA = 72 * time.Hour

// Decider is the access decision point of one hospital (tenant). It is safe for concurrent
// use; its policies and directory may be replaced while it decides.
type Decider struct {
	tenant    string
	policies  atomic.Pointer[Policies]
	dir       *Directory
	o         Options
	contexts  atomic.Pointer[sync.Map] // ctxKey → types.Record
	ncontexts atomic.Int64
}

// New returns the decider of tenant.
func New(tenant string, o Options) (*Decider, error) {
	if tenant == "" {
		return nil, errors.New("new access decider: empty tenant")
	}
	if o.Policies == nil {
		o.Policies = DefaultPolicies()
	}
	if o.Directory == nil {
		o.Directory = NewDirectory()
	}
	if o.ReviewSLA <= 0 {
		o.ReviewSLA = DefaultReviewSLA
	}
	if o.Location == nil {
		loc, err := time.LoadLocation("Asia/Tokyo")
		if err != nil {
			return nil, fmt.Errorf("new access decider: %w", err)
		}
		o.Location = loc
	}
	if o.DayStart == 0 && o.DayEnd == 0 {
		o.DayStart, o.DayEnd = 8*time.Hour+30*time.Minute, 17*time.Hour+15*time.Minute
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	o.Log = o.Log.With("component", "access", "tenant", tenant)
	if o.Now == nil {
		o.Now = time.Now
	}
	d := &Decider{tenant: tenant, dir: o.Directory, o: o}
	d.contexts.Store(new(sync.Map))
	d.policies.Store(o.Policies)
	return d, nil
}

// Tenant returns the hospital d decides for.
func (d *Decider) Tenant() string { return d.tenant }

// Directory returns the directory d reads, to keep it current.
func (d *Decider) Directory() *Directory { return d.dir }

// SetPolicies replaces the policies; decisions under way finish with the old ones.
func (d *Decider) SetPolicies(p *Policies) { d.policies.Store(p) }

// Policies returns the policies in force.
func (d *Decider) Policies() *Policies { return d.policies.Load() }

// Shift returns the shift t falls in.
func (d *Decider) Shift(t time.Time) string {
	lt := t.In(d.o.Location)
	y, m, dd := lt.Date()
	since := lt.Sub(time.Date(y, m, dd, 0, 0, 0, 0, d.o.Location))
	if since >= d.o.DayStart && since < d.o.DayEnd {
		return ShiftDay
	}
	return ShiftNight
}

// Decide answers req. It never fails: a request that cannot be decided (malformed, an
// unknown member of staff) is denied, with the reason. A break-glass allow is queued for
// review; every decision goes to the Recorder.
func (d *Decider) Decide(ctx context.Context, req Request) Decision {
	dec := d.decide(req)
	if dec.BreakGlass {
		// The patient is left out of the log on purpose: it is personal data, and the
		// decision record in the archive has it.
		d.o.Log.WarnContext(ctx, "break-glass access allowed", "decision", dec.ID, "subject", dec.Subject.ID, "data_type", dec.Resource.DataType)
	}
	if dec.BreakGlass && d.o.Reviews != nil {
		if _, err := d.o.Reviews.Enqueue(ctx, &dec, dec.Time.Add(d.o.ReviewSLA)); err != nil {
			d.o.Log.ErrorContext(ctx, "queue break-glass access for review", "decision", dec.ID, "err", err)
		}
	}
	if d.o.Recorder != nil {
		if err := d.o.Recorder.RecordDecision(ctx, &dec); err != nil {
			d.o.Log.ErrorContext(ctx, "record access decision", "decision", dec.ID, "err", err)
		}
	}
	return dec
}

// entityGetter gives Cedar the two entities of a request without building a map.
type entityGetter struct {
	staff, record *cedar.Entity
}

func (g *entityGetter) Get(uid cedar.EntityUID) (cedar.Entity, bool) {
	switch uid {
	case g.staff.UID:
		return *g.staff, true
	case g.record.UID:
		return *g.record, true
	}
	return cedar.Entity{}, false
}

func (d *Decider) decide(req Request) Decision {
	now := req.Time
	if now.IsZero() {
		now = d.o.Now()
	}
	dec := Decision{
		Schema:           DecisionSchema,
		ID:               newID(),
		Time:             now,
		Tenant:           d.tenant,
		Subject:          Subject{ID: req.Subject.ID},
		Action:           req.Action,
		Resource:         req.Resource,
		Patient:          req.Resource.Patient,
		Device:           req.Device,
		Shift:            req.Shift,
		Purpose:          req.PurposeOfUse,
		Emergency:        req.Emergency,
		Decision:         "deny",
		Policies:         []string{},
		Obligations:      []string{ObligationLog},
		BreakGlassReason: strings.TrimSpace(req.Reason),
	}
	if dec.Resource.Sensitivity == "" {
		dec.Resource.Sensitivity = SensitivityNormal
		if slices.Contains(restrictedTypes, strings.ToLower(req.Resource.DataType)) {
			dec.Resource.Sensitivity = SensitivityRestricted
		}
	}
	if dec.Shift == "" {
		dec.Shift = d.Shift(now)
	}
	if err := req.Check(); err != nil {
		dec.Reason = err.Error()
		return dec
	}
	snap := d.dir.cur.Load()
	st, ok := snap.staff[req.Subject.ID]
	if !ok || !st.Active(now) {
		dec.Reason = fmt.Sprintf("%q is not on the staff roster at this time", req.Subject.ID)
		return dec
	}
	dec.Subject = Subject{ID: st.ID, Role: st.Role, Department: st.Department, Qualifications: st.Qualifications, LastTraining: st.LastTraining}
	rel := snap.relations(st, req.Resource.Patient, now)
	today := dayNumber(now.In(d.o.Location))
	dec.Relations = Relations{Assigned: rel.assigned, CareTeam: rel.careTeam, Consultation: rel.consultation, TrainingAgeDays: today - st.trainingDay}

	record := cedar.Entity{
		UID: types.NewEntityUID(entityRecord, types.String(req.Resource.Patient+"/"+req.Resource.DataType)),
		Attributes: types.NewRecord(types.RecordMap{
			"patient":     types.String(req.Resource.Patient),
			"dataType":    types.String(strings.ToLower(req.Resource.DataType)),
			"sensitivity": types.String(dec.Resource.Sensitivity),
			"department":  types.String(req.Resource.Department),
		}),
	}
	cctx := d.context(ctxKey{
		shift: dec.Shift, purpose: req.PurposeOfUse, emergency: req.Emergency, reason: strings.TrimSpace(req.Reason),
		managed: req.Device.Managed, compliant: req.Device.Compliant, location: req.Device.Location, network: req.Device.Network,
		assigned: rel.assigned, careTeam: rel.careTeam, consultation: rel.consultation, today: today,
	})
	pol := d.policies.Load()
	verdict, diag := cedar.Authorize(pol.set, &entityGetter{staff: &st.entity, record: &record}, cedar.Request{
		Principal: st.entity.UID,
		Action:    types.NewEntityUID(entityAction, types.String(req.Action)),
		Resource:  record.UID,
		Context:   cctx,
	})
	for _, e := range diag.Errors {
		dec.Errors = append(dec.Errors, fmt.Sprintf("policy %s: %s", e.PolicyID, e.Message))
	}
	var reasons []string
	var breakGlass, ordinary []cedar.PolicyID
	for _, r := range diag.Reasons {
		if pol.meta[r.PolicyID].breakGlass {
			breakGlass = append(breakGlass, r.PolicyID)
		} else {
			ordinary = append(ordinary, r.PolicyID)
		}
	}
	deciding := ordinary
	if verdict == cedar.Allow {
		dec.Decision = "allow"
		if len(ordinary) == 0 {
			// Only the emergency override allowed it.
			deciding = breakGlass
			dec.BreakGlass = true
		}
	}
	if !dec.BreakGlass {
		dec.BreakGlassReason = ""
	}
	for _, id := range deciding {
		m := pol.meta[id]
		dec.Policies = append(dec.Policies, string(id))
		reasons = append(reasons, m.reason)
		dec.Obligations = append(dec.Obligations, m.obligations...)
	}
	slices.Sort(dec.Policies)
	slices.Sort(dec.Obligations)
	dec.Obligations = slices.Compact(dec.Obligations)
	switch {
	case len(reasons) > 0:
		dec.Reason = strings.Join(reasons, "; ")
	case verdict != cedar.Allow:
		dec.Reason = "no policy permits this access: the patient is not assigned to this member of staff or their care team, and no consultation is open to them"
		if req.Emergency || req.PurposeOfUse == "ETREAT" || req.PurposeOfUse == "BTG" {
			dec.Reason += "; in an emergency, doctors and nurses may break the glass by giving a reason"
		}
	}
	return dec
}

// ctxKey is everything a request's Cedar context is made of.
type ctxKey struct {
	shift, purpose, reason           string
	emergency, managed, compliant    bool
	location, network                string
	assigned, careTeam, consultation bool
	today                            int64
}

// maxContexts bounds the cache of context records: a hospital's ordinary requests come in a
// few thousand shapes a day (shift, purpose, device state, relation), and building a record
// hashes and sorts its keys, a third of a decision's memory.
const maxContexts = 16384

// context returns the Cedar context of k, from the cache when it has no break-glass reason.
func (d *Decider) context(k ctxKey) types.Record {
	cache := d.contexts.Load()
	if k.reason == "" {
		if r, ok := cache.Load(k); ok {
			return r.(types.Record)
		}
	}
	r := types.NewRecord(types.RecordMap{
		"shift":     types.String(k.shift),
		"emergency": types.Boolean(k.emergency),
		"purpose":   types.String(k.purpose),
		"reason":    types.String(k.reason),
		"device": types.NewRecord(types.RecordMap{
			"managed":   types.Boolean(k.managed),
			"compliant": types.Boolean(k.compliant),
			"location":  types.String(k.location),
			"network":   types.String(k.network),
		}),
		"assigned":     types.Boolean(k.assigned),
		"careTeam":     types.Boolean(k.careTeam),
		"consultation": types.Boolean(k.consultation),
		"today":        types.Long(k.today),
	})
	if k.reason == "" {
		if d.ncontexts.Add(1) > maxContexts {
			// Full (yesterday's days, unusual devices): start afresh.
			d.contexts.Store(new(sync.Map))
			d.ncontexts.Store(0)
		} else {
			cache.Store(k, r)
		}
	}
	return r
}

// dayNumber is t's calendar date, in t's own location, as days since 1970-01-01.
func dayNumber(t time.Time) int64 {
	y, m, dd := t.Date()
	return time.Date(y, m, dd, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
