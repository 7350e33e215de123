-- Incidents: what people work on, grouped from alerts, with the entities that group them,
-- the alerts behind them, a timeline of every change, SLA and reporting clocks with stored
-- deadlines, and playbook checklists. Package incident owns the rules; these tables only
-- keep its state.

CREATE TABLE incidents (
	tenant      TEXT NOT NULL REFERENCES tenants(id),
	id          TEXT NOT NULL,
	title       TEXT NOT NULL,
	kinds       TEXT NOT NULL,
	severity    TEXT NOT NULL,
	state       TEXT NOT NULL,
	assignee    TEXT NOT NULL,
	merged_into TEXT NOT NULL,
	first_seen  TIMESTAMPTZ NOT NULL,
	last_seen   TIMESTAMPTZ NOT NULL,
	opened      TIMESTAMPTZ NOT NULL,
	updated     TIMESTAMPTZ NOT NULL,
	closed      TIMESTAMPTZ,
	alerts      INTEGER NOT NULL,
	facts       TEXT NOT NULL,
	version     INTEGER NOT NULL,
	PRIMARY KEY (tenant, id)
);
CREATE INDEX incidents_tenant_state ON incidents (tenant, state, last_seen);

CREATE TABLE incident_entities (
	tenant    TEXT NOT NULL,
	incident  TEXT NOT NULL,
	kind      TEXT NOT NULL,
	value     TEXT NOT NULL,
	last_seen TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (tenant, incident, kind, value),
	FOREIGN KEY (tenant, incident) REFERENCES incidents (tenant, id)
);
CREATE INDEX incident_entities_lookup ON incident_entities (tenant, kind, value, last_seen);

CREATE TABLE incident_alerts (
	tenant      TEXT NOT NULL,
	alert_id    TEXT NOT NULL,
	incident    TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	seq         BIGINT NOT NULL,
	rule_id     TEXT NOT NULL,
	title       TEXT NOT NULL,
	level       TEXT NOT NULL,
	first_seen  TIMESTAMPTZ NOT NULL,
	last_seen   TIMESTAMPTZ NOT NULL,
	data        BYTEA NOT NULL,
	PRIMARY KEY (tenant, alert_id),
	UNIQUE (tenant, fingerprint),
	FOREIGN KEY (tenant, incident) REFERENCES incidents (tenant, id)
);
CREATE INDEX incident_alerts_incident ON incident_alerts (tenant, incident, first_seen);

CREATE TABLE incident_timeline (
	id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant   TEXT NOT NULL,
	incident TEXT NOT NULL,
	time     TIMESTAMPTZ NOT NULL,
	actor    TEXT NOT NULL,
	kind     TEXT NOT NULL,
	detail   TEXT NOT NULL,
	FOREIGN KEY (tenant, incident) REFERENCES incidents (tenant, id)
);
CREATE INDEX incident_timeline_incident ON incident_timeline (tenant, incident, id);

CREATE TABLE incident_clocks (
	tenant      TEXT NOT NULL,
	incident    TEXT NOT NULL,
	name        TEXT NOT NULL,
	started     TIMESTAMPTZ NOT NULL,
	warn_at     TIMESTAMPTZ NOT NULL,
	deadline    TIMESTAMPTZ NOT NULL,
	stopped     TIMESTAMPTZ,
	warned      TIMESTAMPTZ,
	breached    TIMESTAMPTZ,
	escalations INTEGER NOT NULL,
	PRIMARY KEY (tenant, incident, name),
	FOREIGN KEY (tenant, incident) REFERENCES incidents (tenant, id)
);
CREATE INDEX incident_clocks_running ON incident_clocks (tenant, warn_at) WHERE stopped IS NULL;

CREATE TABLE incident_checklist (
	tenant   TEXT NOT NULL,
	incident TEXT NOT NULL,
	playbook TEXT NOT NULL,
	step     TEXT NOT NULL,
	position INTEGER NOT NULL,
	title    TEXT NOT NULL,
	done     TIMESTAMPTZ,
	done_by  TEXT NOT NULL,
	PRIMARY KEY (tenant, incident, playbook, step),
	FOREIGN KEY (tenant, incident) REFERENCES incidents (tenant, id)
);
