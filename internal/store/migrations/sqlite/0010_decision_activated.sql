-- When a decision first came into force: its status first became active, when it was made or
-- when an approver released it. NULL: never active — held, rejected, or held and then revoked
-- before anyone approved it. The enforcers that are told of a decision's end (CrowdSec
-- bouncers under "deleted", webhook receivers that act on what they are sent) are told only
-- of one that had been in force, never of an isolation a guardrail kept back.

ALTER TABLE decisions ADD COLUMN activated TIMESTAMP;

-- Decisions made before: one the audit log shows made active came into force when made; one
-- it shows approved, at its approval. An active or expired decision (expiring happens only to
-- active ones) the audit log says nothing of was in force from its making. A revoked one only
-- if the audit log shows it.
UPDATE decisions SET activated = CASE
	WHEN EXISTS (SELECT 1 FROM audit_log a WHERE a.tenant = decisions.tenant AND a.object = CAST(decisions.id AS TEXT)
		AND a.action = 'decision.create' AND a.detail LIKE '% status=active %') THEN created
	ELSE (SELECT MIN(a.time) FROM audit_log a WHERE a.tenant = decisions.tenant AND a.object = CAST(decisions.id AS TEXT)
		AND a.action = 'decision.approve') END
WHERE status IN ('active', 'expired', 'revoked');
UPDATE decisions SET activated = created WHERE activated IS NULL AND status IN ('active', 'expired');
