-- A tenant refusing writes while a restore rewrites it, seen by every node sharing the database
-- (PostgreSQL; one SQLite node keeps its fences in memory). node names the node whose restore
-- holds the fence: it removes the fence when the restore ends, and at its next start-up if it
-- died first.
CREATE TABLE tenant_fences (
    tenant_id  VARCHAR(63)  PRIMARY KEY REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    reason     VARCHAR(500) NOT NULL,
    node       VARCHAR(100) NOT NULL,
    fenced_at  BIGINT       NOT NULL
);
