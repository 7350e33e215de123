-- A password someone else chose (an administrator creating the account saw it): its holder
-- must choose their own at the next sign-in before doing anything else.

ALTER TABLE users ADD COLUMN password_temporary BOOLEAN NOT NULL DEFAULT FALSE;
