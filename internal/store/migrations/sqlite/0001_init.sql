-- Tenants, API tokens and the audit log: the first tables of the metadata store.
-- Times are UTC, stored as text that sorts in time order.

CREATE TABLE tenants (
	id      TEXT PRIMARY KEY,
	name    TEXT NOT NULL,
	created TIMESTAMP NOT NULL
);

CREATE TABLE api_tokens (
	id        TEXT PRIMARY KEY,
	tenant    TEXT NOT NULL REFERENCES tenants(id),
	name      TEXT NOT NULL,
	scopes    TEXT NOT NULL,
	hash      BLOB NOT NULL,
	created   TIMESTAMP NOT NULL,
	last_used TIMESTAMP,
	expires   TIMESTAMP,
	revoked   TIMESTAMP,
	UNIQUE (tenant, name)
);

CREATE TABLE audit_log (
	id     INTEGER PRIMARY KEY AUTOINCREMENT,
	time   TIMESTAMP NOT NULL,
	actor  TEXT NOT NULL,
	tenant TEXT NOT NULL REFERENCES tenants(id),
	action TEXT NOT NULL,
	object TEXT NOT NULL,
	detail TEXT NOT NULL
);
CREATE INDEX audit_log_tenant_time ON audit_log (tenant, time);
