-- What a hospital sends whole and omamori keeps in force: the EHR directory (package access's
-- Entities as JSON, PUT /api/v1/access/directory) and the asset inventory the guardrails
-- read (CSV, PUT /api/v1/assets). Kept here, not on one node's disk, so that a restart and
-- every node of a scale-out installation use the latest: a ventilator registered through one
-- node is protected on all of them.

CREATE TABLE documents (
	tenant  TEXT NOT NULL REFERENCES tenants(id),
	kind    TEXT NOT NULL,
	body    TEXT NOT NULL,
	updated TIMESTAMP NOT NULL,
	PRIMARY KEY (tenant, kind)
);
CREATE INDEX documents_updated ON documents (kind, updated);
