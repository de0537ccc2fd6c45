-- Who may manage the database through the admin API and web UI, and what each of them did.

-- Administrator accounts (not the phone users of Extension Mobility): a name, a role, and the
-- argon2 hash of the password in PHC form. Names are unique case-insensitively.
CREATE TABLE accounts (
    fold     TEXT   PRIMARY KEY,       -- lower(name)
    name     TEXT   NOT NULL,
    role     TEXT   NOT NULL,          -- admin, operator, viewer
    password TEXT   NOT NULL,          -- argon2id PHC string
    created  BIGINT NOT NULL,          -- Unix seconds
    changed  BIGINT NOT NULL           -- Unix seconds, of the last change
);

-- Bearer secrets of an account: API tokens (until removed) and browser sessions (until they
-- expire or log out). Only the SHA-256 of a secret is kept: a copy of the database lets no one
-- in. Removing the account removes them.
CREATE TABLE credentials (
    digest   TEXT   PRIMARY KEY,       -- SHA-256 of the secret, hex
    account  TEXT   NOT NULL REFERENCES accounts (fold) ON DELETE CASCADE,
    kind     TEXT   NOT NULL CHECK (kind IN ('token', 'session')),
    label    TEXT   NOT NULL,          -- a token's name; a session's client address
    csrf     TEXT,                     -- a session's CSRF token
    created  BIGINT NOT NULL,
    expires  BIGINT                    -- Unix seconds; none for a token
);
CREATE INDEX credentials_account ON credentials (account);

-- The audit log: every write to the objects (in the write's own transaction: a change is
-- never kept without its entry), every change to the accounts and every login, with who made
-- it, from where, and the object before and after (JSON; secrets are as stored).
CREATE TABLE audit (
    id      BIGSERIAL PRIMARY KEY,
    at      BIGINT NOT NULL,           -- Unix seconds
    who     TEXT   NOT NULL,           -- an account, "cli <user>", or "" when not known
    origin  TEXT   NOT NULL,           -- where from: a client address, a command
    action  TEXT   NOT NULL,           -- put, delete, account, token, login, login-refused, ...
    kind    TEXT   NOT NULL,
    key     TEXT   NOT NULL,
    fold    TEXT   NOT NULL,           -- the key folded as every name is (ASCII lower case)
    who_fold TEXT  NOT NULL,           -- who, folded
    version BIGINT,                    -- the change, for writes to the objects
    before  TEXT,
    after   TEXT
);
CREATE INDEX audit_object ON audit (kind, fold);
