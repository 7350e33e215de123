-- Each tenant's EHR directory (package access's Entities as JSON: the roster, assignments,
-- care teams and consultations that HR and the EHR send with PUT /api/v1/access/directory),
-- kept so that a restart or another node decides with it, not with an empty one that would
-- deny every clinician their patients' records.

CREATE TABLE access_directories (
	tenant  TEXT PRIMARY KEY REFERENCES tenants(id),
	body    TEXT NOT NULL,
	updated TIMESTAMPTZ NOT NULL
);
