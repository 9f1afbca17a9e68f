-- The background job that brings every blob of a tenant to its primary data key (after
-- encryption was turned on, or to retire older keys). One row per tenant: the latest job.
CREATE TABLE reencryption_jobs (
    tenant_id        VARCHAR(63)   PRIMARY KEY REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    state            VARCHAR(16)   NOT NULL,
    retire_keys      VARCHAR(2000) NOT NULL,
    blobs_total      BIGINT        NOT NULL,
    blobs_done       BIGINT        NOT NULL,
    blobs_rewritten  BIGINT        NOT NULL,
    bytes_rewritten  BIGINT        NOT NULL,
    blobs_waiting    BIGINT        NOT NULL,
    cursor_store     INTEGER       NOT NULL,
    cursor_key       VARCHAR(1024),
    started_at       BIGINT        NOT NULL,
    updated_at       BIGINT        NOT NULL,
    finished_at      BIGINT,
    error            VARCHAR(1000)
);
