-- Cluster-wide background jobs (janitor, reconciliation, cache expiry, scrub, key rotation,
-- replication repair, the build lease reaper) run on one node at a time: the node named in
-- holder, until expires_at (epoch milliseconds of the database's clock). The holder renews the
-- row by a heartbeat; a row past its expiry may be taken by any node. Used on PostgreSQL only
-- (a SQLite store has one node, which holds every job), portable all the same.
CREATE TABLE job_leases (
    job          VARCHAR(64)  PRIMARY KEY,
    holder       VARCHAR(100) NOT NULL,
    acquired_at  BIGINT       NOT NULL,
    expires_at   BIGINT       NOT NULL
);
