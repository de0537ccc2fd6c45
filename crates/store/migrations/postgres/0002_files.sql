-- Custom files (ring tones, backgrounds, locales, firmware loads) stored once for every node:
-- a name points at content by its SHA-256; content is kept in chunks, once per digest.
CREATE TABLE files (
    fold   TEXT    PRIMARY KEY,        -- lower(name): names match in any case
    name   TEXT    NOT NULL,           -- the relative path as given, '/'-separated
    digest TEXT    NOT NULL,           -- SHA-256 of the content, hex
    size   BIGINT  NOT NULL,
    at     BIGINT  NOT NULL            -- when it was stored, Unix seconds (Last-Modified)
);
CREATE INDEX files_digest ON files (digest);

CREATE TABLE chunks (
    digest TEXT    NOT NULL,
    seq    BIGINT  NOT NULL,
    data   BYTEA   NOT NULL,
    PRIMARY KEY (digest, seq)
);

-- Moves on every change of `files`, so that a node tells in one read whether to look again.
CREATE TABLE file_serial (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    serial BIGINT  NOT NULL
);
INSERT INTO file_serial (id, serial) VALUES (1, 0);
