package dev.builderd.storage.core.metadata;

import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.mapper.RowMapper;

/** The {@code backup_runs} table: backup jobs, their progress, and the one that is running. */
public final class BackupRows {

    /** The states of a run. */
    public static final String RUNNING = "running";
    public static final String FINISHED = "finished";
    public static final String FAILED = "failed";

    /**
     * One job.
     *
     * @param kind {@code backup}, {@code verify}, {@code restore} or {@code prune}
     * @param scope what it works on, in words ({@code tenant acme}, {@code all tenants})
     * @param result the job's outcome as JSON once it ended (or its error, when it failed)
     */
    public record Run(String runId, String kind, String scope, String state, String node, Instant startedAt,
            Instant heartbeatAt, Optional<Instant> finishedAt, long objectsTotal, long objectsDone, long bytesDone,
            long bytesCopied, Optional<String> result) {
    }

    private static final RowMapper<Run> MAPPER = (rs, ctx) -> {
        long finished = rs.getLong("finished_at");
        Optional<Instant> finishedAt = rs.wasNull() ? Optional.empty() : Optional.of(Instant.ofEpochMilli(finished));
        return new Run(rs.getString("run_id"), rs.getString("kind"), rs.getString("scope"), rs.getString("state"),
                rs.getString("node"), Instant.ofEpochMilli(rs.getLong("started_at")), Instant.ofEpochMilli(rs.getLong("heartbeat_at")),
                finishedAt, rs.getLong("objects_total"), rs.getLong("objects_done"), rs.getLong("bytes_done"),
                rs.getLong("bytes_copied"), Optional.ofNullable(rs.getString("result")));
    };

    private BackupRows() {
    }

    /** The running job, if any. */
    public static Optional<Run> running(Handle h) {
        return h.createQuery("SELECT * FROM backup_runs WHERE state = :s").bind("s", RUNNING).map(MAPPER).findOne();
    }

    /**
     * Inserts a running job. The table holds at most one running job: a second insert fails with
     * a unique-constraint violation, so call it after {@link #running} found none, in one transaction.
     */
    public static void start(Handle h, String runId, String kind, String scope, String node, Instant now) {
        h.createUpdate("INSERT INTO backup_runs (run_id, kind, scope, state, node, started_at, heartbeat_at, objects_total, "
                        + "objects_done, bytes_done, bytes_copied) VALUES (:id, :kind, :scope, :s, :node, :now, :now, 0, 0, 0, 0)")
                .bind("id", runId).bind("kind", kind).bind("scope", scope.length() <= 300 ? scope : scope.substring(0, 300))
                .bind("s", RUNNING).bind("node", node.length() <= 100 ? node : node.substring(0, 100))
                .bind("now", now.toEpochMilli()).execute();
    }

    /** Records progress (and that the job is alive). */
    public static void progress(Handle h, String runId, long objectsTotal, long objectsDone, long bytesDone, long bytesCopied,
            Instant now) {
        h.createUpdate("UPDATE backup_runs SET objects_total = :total, objects_done = :done, bytes_done = :bytes, "
                        + "bytes_copied = :copied, heartbeat_at = :now WHERE run_id = :id")
                .bind("total", objectsTotal).bind("done", objectsDone).bind("bytes", bytesDone).bind("copied", bytesCopied)
                .bind("now", now.toEpochMilli()).bind("id", runId).execute();
    }

    /** Ends a running job with {@link #FINISHED} or {@link #FAILED} and its result. */
    public static void finish(Handle h, String runId, String state, String result, Instant now) {
        h.createUpdate("UPDATE backup_runs SET state = :s, result = :r, finished_at = :now, heartbeat_at = :now "
                        + "WHERE run_id = :id AND state = :running")
                .bind("s", state).bind("r", result).bind("now", now.toEpochMilli()).bind("id", runId)
                .bind("running", RUNNING).execute();
    }

    public static Optional<Run> find(Handle h, String runId) {
        return h.createQuery("SELECT * FROM backup_runs WHERE run_id = :id").bind("id", runId).map(MAPPER).findOne();
    }

    /** The latest jobs, newest first. */
    public static List<Run> latest(Handle h, int limit) {
        return h.createQuery("SELECT * FROM backup_runs ORDER BY started_at DESC, run_id DESC LIMIT :limit")
                .bind("limit", limit).map(MAPPER).list();
    }

    /** Whether a restore job ended (well or not) at or after {@code since}: it may have rewritten any tenant's files. */
    public static boolean restoredSince(Handle h, Instant since) {
        return h.createQuery("SELECT COUNT(*) FROM backup_runs WHERE kind = 'restore' AND (finished_at IS NULL OR finished_at >= :since)")
                .bind("since", since.toEpochMilli()).mapTo(Long.class).one() > 0;
    }

    /** The latest job of {@code kind} that finished well. */
    public static Optional<Run> lastFinished(Handle h, String kind) {
        return h.createQuery("SELECT * FROM backup_runs WHERE kind = :kind AND state = :s ORDER BY finished_at DESC LIMIT 1")
                .bind("kind", kind).bind("s", FINISHED).map(MAPPER).findOne();
    }
}
