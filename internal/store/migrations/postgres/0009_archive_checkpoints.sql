-- The newest signed checkpoint of each archive log (one per tenant, by its origin), kept
-- apart from the archive's directory: whoever rewrites that directory — removes its last
-- segments together with the checkpoints and tree hashes that cover them — does not rewrite
-- this, and 'omamori archive verify' fails when the archive holds less than it. Package
-- archive's store witness moves a row forward only along a consistency proof from the
-- checkpoint held, and only from the size it read (size is the condition of the update).

CREATE TABLE archive_checkpoints (
	origin  TEXT NOT NULL PRIMARY KEY,
	size    BIGINT NOT NULL,
	note    TEXT NOT NULL,
	updated TIMESTAMPTZ NOT NULL
);
