-- Cache entries written or deleted through one node, so that the other nodes drop their memory
-- and disk tier copies (PostgreSQL only: a SQLite store has one node). A row is (node, id) with id
-- counting up on its node; changed_at is epoch milliseconds of the database's clock. Rows older
-- than a day are pruned. cache_change_cursors says up to when each node applied the rows, so that
-- a node restarted within the day replays what it missed instead of dropping its whole disk tier.
CREATE TABLE cache_changes (
    node        VARCHAR(100)  NOT NULL,
    id          BIGINT        NOT NULL,
    blob_key    VARCHAR(1024) NOT NULL,
    changed_at  BIGINT        NOT NULL,
    PRIMARY KEY (node, id)
);
CREATE INDEX cache_changes_time ON cache_changes (changed_at);
CREATE TABLE cache_change_cursors (
    node          VARCHAR(100) PRIMARY KEY,
    applied_until BIGINT       NOT NULL
);
