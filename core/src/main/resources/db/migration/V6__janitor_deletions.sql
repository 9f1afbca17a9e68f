-- What the lifecycle janitor deleted, per tenant: retention (builds past their policy, old
-- logs) and orphans (build trees the metadata does not know, rows whose artifact is gone). A
-- purged tenant's record goes with it.
CREATE TABLE janitor_deletions (
    tenant_id   VARCHAR(63)  NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    build_id    VARCHAR(63)  NOT NULL,
    kind        VARCHAR(24)  NOT NULL,
    item        VARCHAR(128) NOT NULL,
    reason      VARCHAR(300) NOT NULL,
    bytes       BIGINT       NOT NULL,
    deleted_at  BIGINT       NOT NULL,
    PRIMARY KEY (tenant_id, deleted_at, build_id, kind, item)
);
