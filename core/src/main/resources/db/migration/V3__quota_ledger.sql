-- Per-tenant, per-category byte ledger: what is stored (used) and what uploads in flight hold
-- (reserved). Reservations are rows too, so that a node that dies leaves them to be swept.
CREATE TABLE quota_ledger (
    tenant_id       VARCHAR(63) NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    category        VARCHAR(16) NOT NULL,
    used_bytes      BIGINT      NOT NULL,
    reserved_bytes  BIGINT      NOT NULL,
    PRIMARY KEY (tenant_id, category)
);

CREATE TABLE quota_reservations (
    reservation_id  VARCHAR(36) PRIMARY KEY,
    tenant_id       VARCHAR(63) NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    category        VARCHAR(16) NOT NULL,
    bytes           BIGINT      NOT NULL,
    holder          VARCHAR(64) NOT NULL,
    expires_at      BIGINT      NOT NULL
);
CREATE INDEX quota_reservations_by_expiry ON quota_reservations (expires_at);

-- Per-tenant overrides of the tier's limits (null: the tier's), and where the tenant stands.
CREATE TABLE tenant_limits (
    tenant_id           VARCHAR(63) PRIMARY KEY REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    total_bytes         BIGINT,
    artifact_bytes      BIGINT,
    cache_bytes         BIGINT,
    concurrent_builds   INTEGER,
    soft_limit_percent  INTEGER,
    hard_limit_action   VARCHAR(16)
);

ALTER TABLE tenants ADD COLUMN quota_state VARCHAR(8) NOT NULL DEFAULT 'ok';

-- Set by the scanner when the tenant is past a hard limit and the build writes into its directories.
ALTER TABLE builds ADD COLUMN over_quota BOOLEAN NOT NULL DEFAULT FALSE;
