package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrConflict means a row changed since the caller read it: read it again and redo the change.
var ErrConflict = errors.New("store: changed by someone else meanwhile")

// Incident is an incident as stored. Package incident gives the fields their meaning (states,
// severities, kinds); the store keeps them and enforces only tenancy and versions.
type Incident struct {
	ID         string
	Tenant     string // set by the store from the Scope
	Title      string
	Kinds      []string // playbook kinds that apply, such as "ransomware"
	Severity   string
	State      string
	Assignee   string // empty: nobody yet
	MergedInto string // the incident this one was merged into, if any
	First      time.Time
	Last       time.Time // first and last activity of the alerts behind it
	Opened     time.Time
	Updated    time.Time
	Closed     time.Time // zero while open
	Alerts     int       // alerts attached
	Facts      []byte    // JSON of the facts people enter for reports; owned by package incident
	Version    int       // 0 for a new incident; each save adds one
	Entities   []IncidentEntity
}

// IncidentEntity is one thing an incident is about (an address, a user, a host), with when
// an alert last named it: the index alerts are grouped by.
type IncidentEntity struct {
	Kind  string // "source", "destination", "user", "host"
	Value string
	Last  time.Time
}

// IncidentAlert is an alert attached to an incident.
type IncidentAlert struct {
	AlertID     string
	Incident    string
	Fingerprint string // what makes a repeat of the same detection recognisable, whatever its ID
	Seq         uint64 // position on the ALERTS stream
	RuleID      string
	Title       string
	Level       string
	First       time.Time
	Last        time.Time
	Data        []byte // the alert as published (JSON)
}

// IncidentEvent is one line of an incident's timeline: who did or saw what, when.
type IncidentEvent struct {
	ID       int64
	Incident string
	Time     time.Time
	Actor    string // "system", "user:<name>", "token:<id>"
	Kind     string // "opened", "alert", "state", "assign", "note", "clock.warned", ...
	Detail   string
}

// IncidentClock is one deadline of an incident: an SLA (acknowledge, contain) or a statutory
// report. The deadlines are stored, not recomputed, so they survive restarts and policy
// changes unchanged.
type IncidentClock struct {
	Incident    string
	Name        string
	Started     time.Time
	WarnAt      time.Time // when to escalate before the deadline
	Deadline    time.Time
	Stopped     time.Time // zero while running
	Warned      time.Time // zero until the warning fired
	Breached    time.Time // zero until the deadline passed while running
	Escalations int       // escalation steps taken
}

// ChecklistStep is one step of a playbook on an incident.
type ChecklistStep struct {
	Incident string
	Playbook string
	Step     string
	Position int
	Title    string
	Done     time.Time // zero: not done
	DoneBy   string
}

// IncidentChange is everything one save writes about one incident, in one transaction.
type IncidentChange struct {
	// Incident is the new state of the row. Version 0 creates it; otherwise Version must be
	// the version read, or the save fails with ErrConflict. Entities are upserted, never
	// removed.
	Incident Incident
	// Alerts are attached to the incident. One already attached (by alert ID or fingerprint)
	// fails the save with ErrExists, which is how a redelivered alert is recognised.
	Alerts []IncidentAlert
	// MoveAlerts are IDs of alerts attached to another incident of the tenant, to move here
	// (merge and split).
	MoveAlerts []string
	Timeline   []IncidentEvent
	Clocks     []IncidentClock // upserted by name
	Checklist  []ChecklistStep // upserted by playbook and step
	// Action and Detail go to the audit log ("incident.open", "incident.state", ...).
	Action string
	Detail string
}

// SaveIncidents applies changes to the scope's incidents in one transaction, all or none,
// with their audit entries, and returns the incidents as saved (versions incremented).
func (sc Scope) SaveIncidents(ctx context.Context, actor string, changes ...IncidentChange) ([]Incident, error) {
	out := make([]Incident, len(changes))
	err := sc.s.tx(ctx, func(tx *sql.Tx) error {
		if err := sc.exists(ctx, tx); err != nil {
			return err
		}
		for i, ch := range changes {
			inc, err := sc.saveIncident(ctx, tx, actor, ch)
			if err != nil {
				return fmt.Errorf("incident %s: %w", ch.Incident.ID, err)
			}
			out[i] = inc
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("save incidents: %w", err)
	}
	return out, nil
}

func (sc Scope) saveIncident(ctx context.Context, tx *sql.Tx, actor string, ch IncidentChange) (Incident, error) {
	inc := ch.Incident
	if inc.ID == "" || inc.State == "" || inc.Severity == "" {
		return Incident{}, errors.New("ID, state and severity are required")
	}
	if ch.Action == "" {
		return Incident{}, errors.New("no audit action")
	}
	inc.Tenant = sc.tenant
	inc.First, inc.Last, inc.Opened, inc.Updated = dbTime(inc.First), dbTime(inc.Last), dbTime(inc.Opened), dbTime(inc.Updated)
	inc.Closed = fromNull(nullTime(inc.Closed))
	if inc.Facts == nil {
		inc.Facts = []byte("{}")
	}
	kinds := strings.Join(inc.Kinds, " ")
	if inc.Version == 0 {
		_, err := tx.ExecContext(ctx, `INSERT INTO incidents (tenant, id, title, kinds, severity, state, assignee, merged_into,
			first_seen, last_seen, opened, updated, closed, alerts, facts, version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 1)`,
			sc.tenant, inc.ID, inc.Title, kinds, inc.Severity, inc.State, inc.Assignee, inc.MergedInto,
			inc.First, inc.Last, inc.Opened, inc.Updated, nullTime(inc.Closed), inc.Alerts, string(inc.Facts))
		if err != nil {
			return Incident{}, sc.s.dialect.classify(err)
		}
	} else {
		res, err := tx.ExecContext(ctx, `UPDATE incidents SET title = $1, kinds = $2, severity = $3, state = $4, assignee = $5,
			merged_into = $6, first_seen = $7, last_seen = $8, opened = $9, updated = $10, closed = $11, alerts = $12, facts = $13,
			version = version + 1
			WHERE tenant = $14 AND id = $15 AND version = $16`,
			inc.Title, kinds, inc.Severity, inc.State, inc.Assignee, inc.MergedInto, inc.First, inc.Last, inc.Opened,
			inc.Updated, nullTime(inc.Closed), inc.Alerts, string(inc.Facts), sc.tenant, inc.ID, inc.Version)
		if err != nil {
			return Incident{}, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return Incident{}, err
		} else if n == 0 {
			var v int
			err := tx.QueryRowContext(ctx, `SELECT version FROM incidents WHERE tenant = $1 AND id = $2`, sc.tenant, inc.ID).Scan(&v)
			if errors.Is(err, sql.ErrNoRows) {
				return Incident{}, ErrNotFound
			}
			if err != nil {
				return Incident{}, err
			}
			return Incident{}, fmt.Errorf("%w: version %d, not %d", ErrConflict, v, inc.Version)
		}
	}
	inc.Version++

	for i, e := range inc.Entities {
		e.Last = dbTime(e.Last)
		inc.Entities[i] = e
		// The newer of the two times wins, so entities age only forwards.
		_, err := tx.ExecContext(ctx, `INSERT INTO incident_entities (tenant, incident, kind, value, last_seen) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (tenant, incident, kind, value) DO UPDATE SET last_seen = CASE
				WHEN excluded.last_seen > incident_entities.last_seen THEN excluded.last_seen ELSE incident_entities.last_seen END`,
			sc.tenant, inc.ID, e.Kind, e.Value, e.Last)
		if err != nil {
			return Incident{}, err
		}
	}
	for _, a := range ch.Alerts {
		_, err := tx.ExecContext(ctx, `INSERT INTO incident_alerts (tenant, alert_id, incident, fingerprint, seq, rule_id, title, level,
			first_seen, last_seen, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			sc.tenant, a.AlertID, inc.ID, a.Fingerprint, int64(a.Seq), a.RuleID, a.Title, a.Level, dbTime(a.First), dbTime(a.Last), a.Data)
		if err != nil {
			return Incident{}, fmt.Errorf("attach alert %s: %w", a.AlertID, sc.s.dialect.classify(err))
		}
	}
	for _, id := range ch.MoveAlerts {
		res, err := tx.ExecContext(ctx, `UPDATE incident_alerts SET incident = $1 WHERE tenant = $2 AND alert_id = $3`, inc.ID, sc.tenant, id)
		if err != nil {
			return Incident{}, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return Incident{}, err
		} else if n == 0 {
			return Incident{}, fmt.Errorf("move alert %s: %w", id, ErrNotFound)
		}
	}
	for _, e := range ch.Timeline {
		if e.Actor == "" || e.Kind == "" {
			return Incident{}, errors.New("a timeline entry needs an actor and a kind")
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO incident_timeline (tenant, incident, time, actor, kind, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
			sc.tenant, inc.ID, dbTime(e.Time), e.Actor, e.Kind, e.Detail)
		if err != nil {
			return Incident{}, err
		}
	}
	for _, c := range ch.Clocks {
		_, err := tx.ExecContext(ctx, `INSERT INTO incident_clocks (tenant, incident, name, started, warn_at, deadline, stopped, warned, breached, escalations)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (tenant, incident, name) DO UPDATE SET started = excluded.started, warn_at = excluded.warn_at,
				deadline = excluded.deadline, stopped = excluded.stopped, warned = excluded.warned, breached = excluded.breached,
				escalations = excluded.escalations`,
			sc.tenant, inc.ID, c.Name, dbTime(c.Started), dbTime(c.WarnAt), dbTime(c.Deadline), nullTime(c.Stopped),
			nullTime(c.Warned), nullTime(c.Breached), c.Escalations)
		if err != nil {
			return Incident{}, err
		}
	}
	for _, st := range ch.Checklist {
		_, err := tx.ExecContext(ctx, `INSERT INTO incident_checklist (tenant, incident, playbook, step, position, title, done, done_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (tenant, incident, playbook, step) DO UPDATE SET position = excluded.position, title = excluded.title,
				done = excluded.done, done_by = excluded.done_by`,
			sc.tenant, inc.ID, st.Playbook, st.Step, st.Position, st.Title, nullTime(st.Done), st.DoneBy)
		if err != nil {
			return Incident{}, err
		}
	}
	return inc, sc.s.audit(ctx, tx, AuditEntry{Actor: actor, Tenant: sc.tenant, Action: ch.Action, Object: inc.ID, Detail: ch.Detail})
}

const incidentColumns = `id, tenant, title, kinds, severity, state, assignee, merged_into, first_seen, last_seen, opened, updated,
	closed, alerts, facts, version`

func scanIncident(row interface{ Scan(...any) error }) (Incident, error) {
	var inc Incident
	var kinds, facts string
	var closed sql.NullTime
	err := row.Scan(&inc.ID, &inc.Tenant, &inc.Title, &kinds, &inc.Severity, &inc.State, &inc.Assignee, &inc.MergedInto,
		&inc.First, &inc.Last, &inc.Opened, &inc.Updated, &closed, &inc.Alerts, &facts, &inc.Version)
	if err != nil {
		return Incident{}, err
	}
	inc.Kinds = strings.Fields(kinds)
	inc.Facts = []byte(facts)
	inc.First, inc.Last, inc.Opened, inc.Updated = inc.First.UTC(), inc.Last.UTC(), inc.Opened.UTC(), inc.Updated.UTC()
	inc.Closed = fromNull(closed)
	return inc, nil
}

// Incident returns the tenant's incident id with its entities, or ErrNotFound (also when
// another tenant has it).
func (sc Scope) Incident(ctx context.Context, id string) (Incident, error) {
	inc, err := scanIncident(sc.s.db.QueryRowContext(ctx,
		`SELECT `+incidentColumns+` FROM incidents WHERE tenant = $1 AND id = $2`, sc.tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Incident{}, fmt.Errorf("get incident %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Incident{}, fmt.Errorf("get incident %s: %w", id, err)
	}
	inc.Entities, err = queryRows(ctx, sc.s.db, `SELECT kind, value, last_seen FROM incident_entities WHERE tenant = $1 AND incident = $2
		ORDER BY kind, value`, []any{sc.tenant, id}, func(r *sql.Rows) (IncidentEntity, error) {
		var e IncidentEntity
		err := r.Scan(&e.Kind, &e.Value, &e.Last)
		e.Last = e.Last.UTC()
		return e, err
	})
	if err != nil {
		return Incident{}, fmt.Errorf("get incident %s: %w", id, err)
	}
	return inc, nil
}

// IncidentFilter selects incidents to list.
type IncidentFilter struct {
	States []string // empty: every state
	Limit  int      // 0: 1000
}

// Incidents lists the tenant's incidents, most recently active first, without entities.
func (sc Scope) Incidents(ctx context.Context, f IncidentFilter) ([]Incident, error) {
	q := `SELECT ` + incidentColumns + ` FROM incidents WHERE tenant = $1`
	args := params{sc.tenant}
	if len(f.States) > 0 {
		q += ` AND state IN (` + args.add(anys(f.States)...) + `)`
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	q += ` ORDER BY last_seen DESC, id LIMIT ` + args.add(f.Limit)
	out, err := queryRows(ctx, sc.s.db, q, args, func(r *sql.Rows) (Incident, error) { return scanIncident(r) })
	if err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	return out, nil
}

// IncidentsTouching returns the tenant's incidents, not in one of the states excluded, that
// name any of entities with an alert at or after since: the candidates a new alert about
// those entities joins. Oldest opened first.
func (sc Scope) IncidentsTouching(ctx context.Context, entities []IncidentEntity, since time.Time, excluded ...string) ([]Incident, error) {
	if len(entities) == 0 {
		return nil, nil
	}
	args := params{sc.tenant, dbTime(since)}
	var or []string
	for _, e := range entities {
		or = append(or, "(e.kind = "+args.add(e.Kind)+" AND e.value = "+args.add(e.Value)+")")
	}
	q := `SELECT ` + prefixed("i.", incidentColumns) + ` FROM incidents i WHERE i.tenant = $1 AND EXISTS (
		SELECT 1 FROM incident_entities e WHERE e.tenant = i.tenant AND e.incident = i.id AND e.last_seen >= $2 AND (` +
		strings.Join(or, " OR ") + `))`
	for _, s := range excluded {
		q += ` AND i.state <> ` + args.add(s)
	}
	q += ` ORDER BY i.opened, i.id`
	out, err := queryRows(ctx, sc.s.db, q, args, func(r *sql.Rows) (Incident, error) { return scanIncident(r) })
	if err != nil {
		return nil, fmt.Errorf("find incidents by entity: %w", err)
	}
	return out, nil
}

func prefixed(p, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// IncidentAlertByKey returns the alert attached to one of the tenant's incidents with alert ID
// id or the fingerprint, or ErrNotFound: how a redelivered or repeated alert is recognised
// before any work is done.
func (sc Scope) IncidentAlertByKey(ctx context.Context, id, fingerprint string) (IncidentAlert, error) {
	out, err := queryRows(ctx, sc.s.db, `SELECT `+alertColumns+` FROM incident_alerts WHERE tenant = $1 AND (alert_id = $2 OR fingerprint = $3) LIMIT 1`,
		[]any{sc.tenant, id, fingerprint}, scanIncidentAlert)
	if err != nil {
		return IncidentAlert{}, fmt.Errorf("find alert %s: %w", id, err)
	}
	if len(out) == 0 {
		return IncidentAlert{}, fmt.Errorf("find alert %s: %w", id, ErrNotFound)
	}
	return out[0], nil
}

const alertColumns = `alert_id, incident, fingerprint, seq, rule_id, title, level, first_seen, last_seen, data`

func scanIncidentAlert(r *sql.Rows) (IncidentAlert, error) {
	var a IncidentAlert
	var seq int64
	err := r.Scan(&a.AlertID, &a.Incident, &a.Fingerprint, &seq, &a.RuleID, &a.Title, &a.Level, &a.First, &a.Last, &a.Data)
	a.Seq, a.First, a.Last = uint64(seq), a.First.UTC(), a.Last.UTC()
	return a, err
}

// IncidentAlerts returns the alerts attached to the tenant's incident id, oldest first.
func (sc Scope) IncidentAlerts(ctx context.Context, id string) ([]IncidentAlert, error) {
	out, err := queryRows(ctx, sc.s.db, `SELECT `+alertColumns+` FROM incident_alerts WHERE tenant = $1 AND incident = $2 ORDER BY first_seen, alert_id`,
		[]any{sc.tenant, id}, scanIncidentAlert)
	if err != nil {
		return nil, fmt.Errorf("list alerts of incident %s: %w", id, err)
	}
	return out, nil
}

// IncidentTimeline returns the timeline of the tenant's incident id in the order written.
func (sc Scope) IncidentTimeline(ctx context.Context, id string) ([]IncidentEvent, error) {
	out, err := queryRows(ctx, sc.s.db, `SELECT id, incident, time, actor, kind, detail FROM incident_timeline WHERE tenant = $1 AND incident = $2 ORDER BY id`,
		[]any{sc.tenant, id}, func(r *sql.Rows) (IncidentEvent, error) {
			var e IncidentEvent
			err := r.Scan(&e.ID, &e.Incident, &e.Time, &e.Actor, &e.Kind, &e.Detail)
			e.Time = e.Time.UTC()
			return e, err
		})
	if err != nil {
		return nil, fmt.Errorf("read timeline of incident %s: %w", id, err)
	}
	return out, nil
}

const clockColumns = `incident, name, started, warn_at, deadline, stopped, warned, breached, escalations`

func scanClock(r *sql.Rows) (IncidentClock, error) {
	var c IncidentClock
	var stopped, warned, breached sql.NullTime
	err := r.Scan(&c.Incident, &c.Name, &c.Started, &c.WarnAt, &c.Deadline, &stopped, &warned, &breached, &c.Escalations)
	c.Started, c.WarnAt, c.Deadline = c.Started.UTC(), c.WarnAt.UTC(), c.Deadline.UTC()
	c.Stopped, c.Warned, c.Breached = fromNull(stopped), fromNull(warned), fromNull(breached)
	return c, err
}

// IncidentClocks returns the clocks of the tenant's incident id by deadline.
func (sc Scope) IncidentClocks(ctx context.Context, id string) ([]IncidentClock, error) {
	out, err := queryRows(ctx, sc.s.db, `SELECT `+clockColumns+` FROM incident_clocks WHERE tenant = $1 AND incident = $2 ORDER BY deadline, name`,
		[]any{sc.tenant, id}, scanClock)
	if err != nil {
		return nil, fmt.Errorf("read clocks of incident %s: %w", id, err)
	}
	return out, nil
}

// DueIncidentClocks returns the tenant's running clocks that need attention at now: past
// their warning time and not yet warned, or past their deadline and not yet marked breached.
// Earliest deadline first.
func (sc Scope) DueIncidentClocks(ctx context.Context, now time.Time) ([]IncidentClock, error) {
	now = dbTime(now)
	out, err := queryRows(ctx, sc.s.db, `SELECT `+clockColumns+` FROM incident_clocks WHERE tenant = $1 AND stopped IS NULL
		AND ((warn_at <= $2 AND warned IS NULL) OR (deadline <= $2 AND breached IS NULL)) ORDER BY deadline, incident, name`,
		[]any{sc.tenant, now}, scanClock)
	if err != nil {
		return nil, fmt.Errorf("find due clocks: %w", err)
	}
	return out, nil
}

// IncidentChecklist returns the playbook steps of the tenant's incident id in order.
func (sc Scope) IncidentChecklist(ctx context.Context, id string) ([]ChecklistStep, error) {
	out, err := queryRows(ctx, sc.s.db, `SELECT incident, playbook, step, position, title, done, done_by FROM incident_checklist
		WHERE tenant = $1 AND incident = $2 ORDER BY playbook, position`,
		[]any{sc.tenant, id}, func(r *sql.Rows) (ChecklistStep, error) {
			var s ChecklistStep
			var done sql.NullTime
			err := r.Scan(&s.Incident, &s.Playbook, &s.Step, &s.Position, &s.Title, &done, &s.DoneBy)
			s.Done = fromNull(done)
			return s, err
		})
	if err != nil {
		return nil, fmt.Errorf("read checklist of incident %s: %w", id, err)
	}
	return out, nil
}
