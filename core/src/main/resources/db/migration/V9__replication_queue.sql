-- The durable replication queue: one entry per key whose blob may differ between the primary and
-- the replica. A later change of a key updates its entry (generation + 1) and keeps enqueued_at,
-- so the age of the oldest entry is the replication lag. Times are epoch milliseconds.
CREATE TABLE replication_queue (
    blob_key         VARCHAR(1024) NOT NULL,
    generation       BIGINT        NOT NULL,
    bytes            BIGINT        NOT NULL,
    enqueued_at      BIGINT        NOT NULL,
    changed_at       BIGINT        NOT NULL,
    attempts         INTEGER       NOT NULL,
    next_attempt_at  BIGINT        NOT NULL,
    claimed_until    BIGINT        NOT NULL,
    last_error       VARCHAR(1000),
    PRIMARY KEY (blob_key)
);
CREATE INDEX replication_queue_due ON replication_queue (next_attempt_at);
CREATE INDEX replication_queue_age ON replication_queue (enqueued_at);
