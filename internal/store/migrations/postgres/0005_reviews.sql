-- Break-glass accesses waiting for review (package access's ReviewQueue): the decision as
-- the decision point wrote it (JSON), the subject and patient it concerns (so that a review
-- can be found by either), when the review is due, and the reviewer's verdict once given.

CREATE TABLE access_reviews (
	tenant      TEXT NOT NULL REFERENCES tenants(id),
	id          TEXT NOT NULL,
	decision    TEXT NOT NULL,
	subject     TEXT NOT NULL,
	patient     TEXT NOT NULL,
	decided     TIMESTAMPTZ NOT NULL,
	due         TIMESTAMPTZ NOT NULL,
	outcome     TEXT NOT NULL,
	reviewer    TEXT NOT NULL,
	note        TEXT NOT NULL,
	reviewed    TIMESTAMPTZ,
	created     TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (tenant, id)
);
CREATE INDEX access_reviews_pending ON access_reviews (tenant, outcome, due);
