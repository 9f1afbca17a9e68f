-- Per-tenant overrides of the tier's fairness limits on the API (requests per second, body bytes
-- per second, requests in flight); a NULL column keeps the tier's value.
CREATE TABLE tenant_rate_limits (
    tenant_id            VARCHAR(63) PRIMARY KEY REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    requests_per_second  BIGINT,
    bytes_per_second     BIGINT,
    concurrent_requests  INTEGER
);
