-- Every object of the device database, as JSON, keyed by kind and name. Names are unique
-- case-insensitively (file names are matched that way), so the key is stored folded.
CREATE TABLE objects (
    kind    TEXT    NOT NULL,
    fold    TEXT    NOT NULL,          -- lower(key)
    key     TEXT    NOT NULL,          -- the name as written
    alt     TEXT,                      -- a second unique key: a device's MAC
    body    TEXT    NOT NULL,          -- the object, JSON
    version INTEGER NOT NULL,          -- the change that wrote it
    PRIMARY KEY (kind, fold),
    UNIQUE (kind, alt)
);

-- What each object names (a device its pool, a pool its group, ...). The foreign keys make
-- the database refuse to delete an object still in use and to hold a dangling name.
CREATE TABLE refs (
    kind    TEXT NOT NULL,
    fold    TEXT NOT NULL,
    to_kind TEXT NOT NULL,
    to_fold TEXT NOT NULL,
    PRIMARY KEY (kind, fold, to_kind, to_fold),
    FOREIGN KEY (kind, fold) REFERENCES objects (kind, fold) ON DELETE CASCADE,
    FOREIGN KEY (to_kind, to_fold) REFERENCES objects (kind, fold)
);
CREATE INDEX refs_to ON refs (to_kind, to_fold);

-- The change feed: one row per object written or deleted, in commit order. A server that
-- has seen version N reads the rows after N and rebuilds what they touch.
CREATE TABLE changes (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT    NOT NULL,
    key     TEXT    NOT NULL,
    op      TEXT    NOT NULL CHECK (op IN ('put', 'delete')),
    at      INTEGER NOT NULL           -- Unix time, seconds
);
