-- Vulnerability data and each hospital's findings (package vuln).
--
-- vuln_records holds what each source said about each CVE (package vuln's Record as JSON):
-- one row per CVE and source (kev, nvd, or jvn:JVNDB-… for each JVN entry), a newer import
-- replacing the row. It is public data, the same for every hospital, so it has no tenant: a
-- regional SOC imports the KEV catalogue once for all of them.
--
-- vuln_findings holds a tenant's findings: one per asset (its address or network in the
-- inventory) and CVE, with package vuln's Finding as JSON, its risk for sorting, and the
-- state people give it: open, patched, mitigated, or accepted with a reason, an expiry and
-- who accepted it.

CREATE TABLE vuln_records (
	cve      TEXT NOT NULL,
	source   TEXT NOT NULL,
	modified TEXT NOT NULL,
	body     TEXT NOT NULL,
	imported TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (cve, source)
);

CREATE TABLE vuln_findings (
	tenant        TEXT NOT NULL REFERENCES tenants(id),
	asset         TEXT NOT NULL,
	cve           TEXT NOT NULL,
	risk          INTEGER NOT NULL,
	body          TEXT NOT NULL,
	state         TEXT NOT NULL,
	state_reason  TEXT NOT NULL,
	state_by      TEXT NOT NULL,
	state_until   TIMESTAMPTZ,
	state_changed TIMESTAMPTZ NOT NULL,
	first_seen    TIMESTAMPTZ NOT NULL,
	last_seen     TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (tenant, asset, cve)
);
CREATE INDEX vuln_findings_risk ON vuln_findings (tenant, risk);
