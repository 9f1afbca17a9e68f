package dev.builderd.storage.core.metadata;

import dev.builderd.storage.core.model.TenantId;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.mapper.RowMapper;

/** The {@code reencryption_jobs} table: each tenant's latest re-encryption job and its progress. */
public final class ReencryptionRows {

    /** Where a job stands. */
    public enum State {
        RUNNING, FINISHED, FAILED;

        public String wireName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /**
     * A tenant's re-encryption job.
     *
     * @param retireKeys the tenant's key ids to remove once every blob is on the primary key
     * @param blobsWaiting blobs of builds with uploads in flight that the last walk left for the next one
     * @param cursorStore index of the store being walked; {@code cursorKey} the last key done in it (null: from the start)
     */
    public record Job(TenantId tenant, State state, Set<Integer> retireKeys, long blobsTotal, long blobsDone,
            long blobsRewritten, long bytesRewritten, long blobsWaiting, int cursorStore, String cursorKey, Instant started, Instant updated,
            Optional<Instant> finished, Optional<String> error) {

        /** A new job, nothing done yet. */
        public static Job start(TenantId tenant, Set<Integer> retireKeys, long blobsTotal, Instant now) {
            return new Job(tenant, State.RUNNING, Set.copyOf(retireKeys), blobsTotal, 0, 0, 0, 0, 0, null, now, now,
                    Optional.empty(), Optional.empty());
        }

        public Job progressed(int store, String key, long done, long rewritten, long bytes, Instant now) {
            return new Job(tenant, state, retireKeys, blobsTotal, done, rewritten, bytes, blobsWaiting, store, key, started, now,
                    finished, error);
        }

        public Job ended(State end, Optional<String> why, Instant now) {
            return new Job(tenant, end, retireKeys, blobsTotal, blobsDone, blobsRewritten, bytesRewritten, blobsWaiting,
                    cursorStore, cursorKey, started, now, Optional.of(now), why);
        }

        /**
         * The same job to be walked again from the start, because {@code waiting} blobs could not
         * be rewritten yet (blobs already on the primary key are skipped quickly).
         */
        public Job restartedWalk(long waiting, Instant now) {
            return new Job(tenant, state, retireKeys, blobsTotal, 0, blobsRewritten, bytesRewritten, waiting, 0, null, started,
                    now, finished, error);
        }
    }

    private static final RowMapper<Job> MAPPER = (rs, ctx) -> {
        long finished = rs.getLong("finished_at");
        boolean hasFinished = !rs.wasNull();
        String keys = rs.getString("retire_keys");
        return new Job(TenantId.of(rs.getString("tenant_id")), State.valueOf(rs.getString("state").toUpperCase(java.util.Locale.ROOT)),
                keys.isEmpty() ? Set.of() : Arrays.stream(keys.split(",")).map(Integer::parseUnsignedInt).collect(Collectors.toUnmodifiableSet()),
                rs.getLong("blobs_total"), rs.getLong("blobs_done"), rs.getLong("blobs_rewritten"), rs.getLong("bytes_rewritten"),
                rs.getLong("blobs_waiting"), rs.getInt("cursor_store"), rs.getString("cursor_key"), Instant.ofEpochMilli(rs.getLong("started_at")),
                Instant.ofEpochMilli(rs.getLong("updated_at")), hasFinished ? Optional.of(Instant.ofEpochMilli(finished)) : Optional.empty(),
                Optional.ofNullable(rs.getString("error")));
    };

    private ReencryptionRows() {
    }

    public static Optional<Job> find(Handle h, TenantId tenant) {
        return h.createQuery("SELECT * FROM reencryption_jobs WHERE tenant_id = :t").bind("t", tenant.value()).map(MAPPER).findOne();
    }

    public static List<Job> running(Handle h) {
        return h.createQuery("SELECT * FROM reencryption_jobs WHERE state = 'running' ORDER BY tenant_id").map(MAPPER).list();
    }

    /** Writes the job, replacing the tenant's previous one. */
    public static void save(Handle h, Job job) {
        h.createUpdate("DELETE FROM reencryption_jobs WHERE tenant_id = :t").bind("t", job.tenant().value()).execute();
        h.createUpdate("INSERT INTO reencryption_jobs (tenant_id, state, retire_keys, blobs_total, blobs_done, blobs_rewritten,"
                        + " bytes_rewritten, blobs_waiting, cursor_store, cursor_key, started_at, updated_at, finished_at, error)"
                        + " VALUES (:t, :state, :retire, :total, :done, :rewritten, :bytes, :waiting, :store, :cursor, :started,"
                        + " :updated, :finished, :error)")
                .bind("t", job.tenant().value())
                .bind("state", job.state().wireName())
                .bind("retire", job.retireKeys().stream().sorted().map(Integer::toUnsignedString).collect(Collectors.joining(",")))
                .bind("total", job.blobsTotal()).bind("done", job.blobsDone()).bind("rewritten", job.blobsRewritten())
                .bind("bytes", job.bytesRewritten()).bind("waiting", job.blobsWaiting()).bind("store", job.cursorStore()).bind("cursor", job.cursorKey())
                .bind("started", job.started().toEpochMilli()).bind("updated", job.updated().toEpochMilli())
                .bind("finished", job.finished().map(Instant::toEpochMilli).orElse(null))
                .bind("error", job.error().map(e -> e.length() > 1000 ? e.substring(0, 1000) : e).orElse(null))
                .execute();
    }
}
