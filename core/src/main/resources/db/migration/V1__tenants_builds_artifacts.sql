-- One schema for SQLite and PostgreSQL: portable types only; times are epoch milliseconds.
CREATE TABLE tenants (
    tenant_id   VARCHAR(63) PRIMARY KEY,
    tier        VARCHAR(16) NOT NULL,
    encryption  BOOLEAN     NOT NULL,
    created_at  BIGINT      NOT NULL,
    updated_at  BIGINT      NOT NULL
);

CREATE TABLE tokens (
    token_id    VARCHAR(32) PRIMARY KEY,
    tenant_id   VARCHAR(63) NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    token_hash  CHAR(64)    NOT NULL UNIQUE,
    created_at  BIGINT      NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX tokens_by_tenant ON tokens (tenant_id);

CREATE TABLE builds (
    tenant_id        VARCHAR(63) NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    build_id         VARCHAR(63) NOT NULL,
    status           VARCHAR(16) NOT NULL,
    failure_reason   VARCHAR(200),
    created_at       BIGINT      NOT NULL,
    completed_at     BIGINT,
    lease_expires_at BIGINT      NOT NULL,
    PRIMARY KEY (tenant_id, build_id)
);
CREATE INDEX builds_by_status ON builds (status, lease_expires_at);

CREATE TABLE artifacts (
    tenant_id   VARCHAR(63)  NOT NULL,
    build_id    VARCHAR(63)  NOT NULL,
    name        VARCHAR(128) NOT NULL,
    size        BIGINT       NOT NULL,
    sha256      CHAR(64)     NOT NULL,
    created_at  BIGINT       NOT NULL,
    PRIMARY KEY (tenant_id, build_id, name),
    FOREIGN KEY (tenant_id, build_id) REFERENCES builds (tenant_id, build_id) ON DELETE CASCADE
);
