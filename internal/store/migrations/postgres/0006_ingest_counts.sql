-- What arrived, counted by package tally from the bus: per tenant, hour of receipt, source
-- (a listener, a file, an API token) and dataset, the events and dead letters (dead letters
-- have an empty dataset) and when the last of them was received. The dashboard's events over
-- time and ingest health read it.

CREATE TABLE ingest_counts (
	tenant       TEXT NOT NULL,
	hour         TIMESTAMPTZ NOT NULL,
	source       TEXT NOT NULL,
	dataset      TEXT NOT NULL,
	events       BIGINT NOT NULL,
	dead_letters BIGINT NOT NULL,
	last_seen    TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (tenant, hour, source, dataset)
);

-- How far a counting consumer has counted, moved in the same transaction as the counts, so a
-- batch the bus delivers twice is counted once.
CREATE TABLE consumer_marks (
	consumer TEXT NOT NULL PRIMARY KEY,
	seq      BIGINT NOT NULL
);
