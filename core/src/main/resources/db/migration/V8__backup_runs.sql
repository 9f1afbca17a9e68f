-- Backup jobs (backup, verify, restore, prune): their progress for the API and CLI, and the
-- exclusion that keeps a prune from deleting data a running backup reuses. At most one job is
-- running at a time (the partial unique index); a job whose node stopped heartbeating is failed
-- by the next one to start.
CREATE TABLE backup_runs (
    run_id        VARCHAR(40)   PRIMARY KEY,
    kind          VARCHAR(16)   NOT NULL,
    scope         VARCHAR(300)  NOT NULL,
    state         VARCHAR(16)   NOT NULL,
    node          VARCHAR(100)  NOT NULL,
    started_at    BIGINT        NOT NULL,
    heartbeat_at  BIGINT        NOT NULL,
    finished_at   BIGINT,
    objects_total BIGINT        NOT NULL,
    objects_done  BIGINT        NOT NULL,
    bytes_done    BIGINT        NOT NULL,
    bytes_copied  BIGINT        NOT NULL,
    result        TEXT
);
CREATE UNIQUE INDEX backup_runs_one_running ON backup_runs (state) WHERE state = 'running';
CREATE INDEX backup_runs_by_start ON backup_runs (started_at);
