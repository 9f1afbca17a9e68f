-- The index of every tenant's cache entries: size and times, so that eviction (lru, fifo,
-- random, retention) works the same on every backend without listing the store.
CREATE TABLE cache_entries (
    tenant_id    VARCHAR(63)  NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    cache_type   VARCHAR(16)  NOT NULL,
    cache_key    VARCHAR(600) NOT NULL,
    size         BIGINT       NOT NULL,
    created_at   BIGINT       NOT NULL,
    accessed_at  BIGINT       NOT NULL,
    PRIMARY KEY (tenant_id, cache_type, cache_key)
);
CREATE INDEX cache_entries_by_access ON cache_entries (tenant_id, accessed_at);
CREATE INDEX cache_entries_by_age ON cache_entries (tenant_id, created_at);

-- Entries an active build declared or read: never evicted while that build is active.
CREATE TABLE cache_pins (
    tenant_id    VARCHAR(63)  NOT NULL,
    build_id     VARCHAR(63)  NOT NULL,
    cache_type   VARCHAR(16)  NOT NULL,
    cache_key    VARCHAR(600) NOT NULL,
    PRIMARY KEY (tenant_id, build_id, cache_type, cache_key),
    FOREIGN KEY (tenant_id, build_id) REFERENCES builds (tenant_id, build_id) ON DELETE CASCADE
);
CREATE INDEX cache_pins_by_entry ON cache_pins (tenant_id, cache_type, cache_key);
