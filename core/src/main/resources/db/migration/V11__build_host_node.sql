-- A build's workspace and temp directories are local to the node that created it: the build
-- records that node (null for builds created before this column, and for restored ones: the
-- node that serves them counts as their host). The nodes table maps a node's name to the URL
-- clients reach it at, so that a request for a build's directories elsewhere is sent there.
ALTER TABLE builds ADD COLUMN host_node VARCHAR(100);

CREATE TABLE nodes (
    node           VARCHAR(100) PRIMARY KEY,
    advertise_url  VARCHAR(500) NOT NULL,
    started_at     BIGINT       NOT NULL
);
