-- Per tenant and cache type: how its entries are evicted and expired, where the operator set
-- it (a NULL column takes the daemon's default), and a running total of its bytes and entries
-- so that a write checks the type's MaxSize without summing the index.
CREATE TABLE cache_policies (
    tenant_id              VARCHAR(63) NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    cache_type             VARCHAR(16) NOT NULL,
    max_size_bytes         BIGINT,
    eviction_policy        VARCHAR(8),
    min_retention_seconds  BIGINT,
    max_retention_seconds  BIGINT,
    PRIMARY KEY (tenant_id, cache_type)
);

CREATE TABLE cache_usage (
    tenant_id    VARCHAR(63) NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    cache_type   VARCHAR(16) NOT NULL,
    bytes        BIGINT      NOT NULL,
    entries      BIGINT      NOT NULL,
    PRIMARY KEY (tenant_id, cache_type)
);
INSERT INTO cache_usage (tenant_id, cache_type, bytes, entries)
    SELECT tenant_id, cache_type, SUM(size), COUNT(*) FROM cache_entries GROUP BY tenant_id, cache_type;

-- Eviction and expiry pick within one tenant's cache type.
DROP INDEX cache_entries_by_access;
DROP INDEX cache_entries_by_age;
CREATE INDEX cache_entries_by_access ON cache_entries (tenant_id, cache_type, accessed_at);
CREATE INDEX cache_entries_by_age ON cache_entries (tenant_id, cache_type, created_at);
