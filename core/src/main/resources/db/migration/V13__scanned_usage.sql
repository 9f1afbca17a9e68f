-- What each node's directory scan measured of a tenant's active builds it hosts (workspace,
-- scratch, metadata): a build's directories exist on its host only, so the tenant's scanned
-- ledger lines are the sum over nodes, not what the last node to scan saw on its own disk.
CREATE TABLE scanned_usage (
    tenant_id  VARCHAR(63)  NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    node       VARCHAR(100) NOT NULL,
    category   VARCHAR(16)  NOT NULL,
    bytes      BIGINT       NOT NULL,
    PRIMARY KEY (tenant_id, node, category)
);
