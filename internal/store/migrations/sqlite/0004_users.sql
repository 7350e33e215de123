-- People who sign in to the web UI: users (each with a home tenant, the hospital or SOC that
-- manages the account), the roles they hold in tenants (a regional SOC analyst holds roles in
-- several), their sessions (only a hash of the session ID is kept) and the failure counters
-- behind sign-in lockout. Password hashes are argon2id strings; the TOTP secret is sealed by
-- package auth before it gets here.

CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	tenant        TEXT NOT NULL REFERENCES tenants(id),
	name          TEXT NOT NULL UNIQUE,
	display_name  TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	totp_secret   BLOB,
	totp_step     BIGINT NOT NULL DEFAULT 0,
	created       TIMESTAMP NOT NULL,
	disabled      TIMESTAMP
);
CREATE INDEX users_tenant ON users (tenant);

CREATE TABLE role_grants (
	user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	tenant     TEXT NOT NULL REFERENCES tenants(id),
	role       TEXT NOT NULL,
	created    TIMESTAMP NOT NULL,
	granted_by TEXT NOT NULL,
	PRIMARY KEY (user_id, tenant, role)
);
CREATE INDEX role_grants_tenant ON role_grants (tenant);

CREATE TABLE sessions (
	id_hash   BLOB PRIMARY KEY,
	user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	stage     INTEGER NOT NULL,
	csrf      TEXT NOT NULL,
	addr      TEXT NOT NULL,
	created   TIMESTAMP NOT NULL,
	last_seen TIMESTAMP NOT NULL,
	expires   TIMESTAMP NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires);

CREATE TABLE signin_failures (
	key          TEXT PRIMARY KEY,
	failures     INTEGER NOT NULL,
	last_failure TIMESTAMP NOT NULL,
	locked_until TIMESTAMP
);
