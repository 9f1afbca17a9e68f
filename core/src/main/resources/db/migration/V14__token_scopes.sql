-- Tokens get a scope (read, write, admin; the tokens issued so far were read-write), may be bound
-- to one build, and may expire. A build token's row goes with its build (the foreign key cascades),
-- so deleting a build ends its tokens in the same transaction on every node, and a token cannot
-- be issued for a build that a concurrent transaction is deleting. SQLite cannot add a table
-- constraint to an existing table, so the table is rebuilt (the same statements on PostgreSQL).
CREATE TABLE tokens_v14 (
    token_id    VARCHAR(32) PRIMARY KEY,
    tenant_id   VARCHAR(63) NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    token_hash  CHAR(64)    NOT NULL UNIQUE,
    created_at  BIGINT      NOT NULL,
    revoked_at  BIGINT,
    scope       VARCHAR(8)  NOT NULL DEFAULT 'write',
    build_id    VARCHAR(63),
    expires_at  BIGINT,
    FOREIGN KEY (tenant_id, build_id) REFERENCES builds (tenant_id, build_id) ON DELETE CASCADE
);
INSERT INTO tokens_v14 (token_id, tenant_id, token_hash, created_at, revoked_at)
    SELECT token_id, tenant_id, token_hash, created_at, revoked_at FROM tokens;
DROP TABLE tokens;
ALTER TABLE tokens_v14 RENAME TO tokens;
CREATE INDEX tokens_by_tenant ON tokens (tenant_id);
CREATE INDEX tokens_by_build ON tokens (tenant_id, build_id);
