-- Response decisions (block an address, range or domain; isolate a host), their change log,
-- which CrowdSec-style bouncers follow, and how far each bouncer has read it.

CREATE TABLE decisions (
	id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant     TEXT NOT NULL REFERENCES tenants(id),
	action     TEXT NOT NULL,
	scope      TEXT NOT NULL,
	value      TEXT NOT NULL,
	ttl        BIGINT NOT NULL,
	expires    TIMESTAMPTZ NOT NULL,
	reason     TEXT NOT NULL,
	origin     TEXT NOT NULL,
	origin_name TEXT NOT NULL,
	origin_ref TEXT NOT NULL,
	alert_id   TEXT NOT NULL,
	status     TEXT NOT NULL,
	guardrail  TEXT NOT NULL,
	dry_run    BOOLEAN NOT NULL,
	created    TIMESTAMPTZ NOT NULL,
	created_by TEXT NOT NULL,
	updated    TIMESTAMPTZ NOT NULL,
	updated_by TEXT NOT NULL,
	note       TEXT NOT NULL
);
CREATE INDEX decisions_tenant_status ON decisions (tenant, status, expires);
CREATE INDEX decisions_tenant_value ON decisions (tenant, value);

CREATE TABLE decision_changes (
	seq      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	tenant   TEXT NOT NULL REFERENCES tenants(id),
	decision BIGINT NOT NULL REFERENCES decisions(id)
);
CREATE INDEX decision_changes_tenant_seq ON decision_changes (tenant, seq);

CREATE TABLE bouncer_cursors (
	tenant    TEXT NOT NULL REFERENCES tenants(id),
	bouncer   TEXT NOT NULL,
	seq       BIGINT NOT NULL,
	last_pull TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (tenant, bouncer)
);
