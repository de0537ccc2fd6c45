-- What each node of a cluster last said of itself (its counters, as RTMT shows them per TFTP
-- server), written by the node every few seconds; `phoneboot counters --cluster` reads it.
CREATE TABLE nodes (
    name     TEXT   PRIMARY KEY,
    started  BIGINT NOT NULL,          -- Unix seconds
    seen     BIGINT NOT NULL,          -- Unix seconds, of this report
    counters TEXT   NOT NULL           -- `Name value` lines
);
