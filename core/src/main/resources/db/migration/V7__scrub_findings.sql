-- Blobs the integrity scrub found damaged: kept until a later pass reads them whole again (or
-- they are deleted), so /health/storage reports them across restarts.
CREATE TABLE scrub_findings (
    tenant_id  VARCHAR(63),
    blob_key   VARCHAR(1024) NOT NULL,
    problem    VARCHAR(1024) NOT NULL,
    found_at   BIGINT       NOT NULL,
    PRIMARY KEY (blob_key)
);
