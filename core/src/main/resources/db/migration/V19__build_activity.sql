-- Uploads in flight to a build, and builds being closed (completed, deleted, their logs deleted),
-- on any node: a build is not closed while an upload to it runs on any node, and no upload starts
-- while it is being closed. The node renews its rows' expires_at (epoch milliseconds) while the
-- work runs, so the rows of a node that died stop counting within a short bound; a node drops
-- its own rows when it starts.
CREATE TABLE build_activity (
    activity_id  VARCHAR(36)  PRIMARY KEY,
    tenant_id    VARCHAR(63)  NOT NULL,
    build_id     VARCHAR(63)  NOT NULL,
    kind         VARCHAR(8)   NOT NULL,
    node         VARCHAR(100) NOT NULL,
    expires_at   BIGINT       NOT NULL,
    FOREIGN KEY (tenant_id, build_id) REFERENCES builds (tenant_id, build_id) ON DELETE CASCADE
);
CREATE INDEX build_activity_by_build ON build_activity (tenant_id, build_id);
CREATE INDEX build_activity_by_node ON build_activity (node);
