-- The same tables as SQLite's (see ../sqlite/0001_objects.sql), and one more: the feed's
-- head, a single row every writer locks first. Holding it, a writer knows the versions its
-- steps get (head + 1, ...), and writers on different nodes commit in version order, so a
-- follower never sees version N+1 before N.
CREATE TABLE objects (
    kind    TEXT   NOT NULL,
    fold    TEXT   NOT NULL,
    key     TEXT   NOT NULL,
    alt     TEXT,
    body    TEXT   NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (kind, fold),
    UNIQUE (kind, alt)
);

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

CREATE TABLE changes (
    version BIGINT PRIMARY KEY,
    kind    TEXT   NOT NULL,
    key     TEXT   NOT NULL,
    op      TEXT   NOT NULL CHECK (op IN ('put', 'delete')),
    at      BIGINT NOT NULL
);

CREATE TABLE feed (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    head BIGINT  NOT NULL
);
INSERT INTO feed (id, head) VALUES (1, 0);
