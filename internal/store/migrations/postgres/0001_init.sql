-- Tenants, API tokens and the audit log: the first tables of the metadata store.

CREATE TABLE tenants (
	id      TEXT PRIMARY KEY,
	name    TEXT NOT NULL,
	created TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_tokens (
	id        TEXT PRIMARY KEY,
	tenant    TEXT NOT NULL REFERENCES tenants(id),
	name      TEXT NOT NULL,
	scopes    TEXT NOT NULL,
	hash      BYTEA NOT NULL,
	created   TIMESTAMPTZ NOT NULL,
	last_used TIMESTAMPTZ,
	expires   TIMESTAMPTZ,
	revoked   TIMESTAMPTZ,
	UNIQUE (tenant, name)
);

CREATE TABLE audit_log (
	id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	time   TIMESTAMPTZ NOT NULL,
	actor  TEXT NOT NULL,
	tenant TEXT NOT NULL REFERENCES tenants(id),
	action TEXT NOT NULL,
	object TEXT NOT NULL,
	detail TEXT NOT NULL
);
CREATE INDEX audit_log_tenant_time ON audit_log (tenant, time);
