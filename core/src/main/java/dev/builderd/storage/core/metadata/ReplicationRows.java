package dev.builderd.storage.core.metadata;

import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.mapper.RowMapper;

/**
 * The {@code replication_queue} table: keys whose blob may differ between the primary and the
 * replica. Times are epoch milliseconds. An entry is claimed by one worker at a time (until
 * {@code claimed_until}); a change noted meanwhile raises its generation, so that the worker's
 * outcome does not remove it and it is synced again.
 */
public final class ReplicationRows {

    /** One pending key, as the worker and the status see it. */
    public record Entry(String key, long generation, long bytes, long enqueuedAt, long changedAt, int attempts, long nextAttemptAt,
            Optional<String> lastError) {
    }

    /**
     * What is pending at some time: entries to sync (not counting deletions waiting for their
     * delay), their bytes, the oldest one's enqueue time (0 when none), how many failed at least
     * once, and the deletions waiting for their delay.
     */
    public record Backlog(long entries, long bytes, long oldestEnqueuedAt, long failing, long deferredDeletes) {
    }

    /** An entry waiting for its delete delay: not failed, not due yet. Such entries are no lag. */
    private static final String DEFERRED = "(replication_queue.attempts = 0 AND replication_queue.next_attempt_at > :now)";

    private static final RowMapper<Entry> ENTRY = (rs, ctx) -> new Entry(rs.getString("blob_key"), rs.getLong("generation"),
            rs.getLong("bytes"), rs.getLong("enqueued_at"), rs.getLong("changed_at"), rs.getInt("attempts"),
            rs.getLong("next_attempt_at"), Optional.ofNullable(rs.getString("last_error")));

    private ReplicationRows() {
    }

    /**
     * Notes a change of {@code key} at {@code now}: a new entry, or the existing one with its
     * generation raised, its size and change time replaced, its retries reset and due now; its
     * enqueue time (what the lag counts from) and any claim stay, except that an entry that was
     * only waiting for its delete delay counts as enqueued now.
     */
    public static void changed(Handle h, String key, long bytes, long now) {
        h.createUpdate("INSERT INTO replication_queue (blob_key, generation, bytes, enqueued_at, changed_at, attempts, next_attempt_at,"
                        + " claimed_until, last_error) VALUES (:k, 1, :b, :now, :now, 0, :now, 0, NULL)"
                        + " ON CONFLICT (blob_key) DO UPDATE SET generation = replication_queue.generation + 1, bytes = excluded.bytes,"
                        + " enqueued_at = CASE WHEN " + DEFERRED.replace(":now", "excluded.changed_at")
                        + " THEN excluded.enqueued_at ELSE replication_queue.enqueued_at END,"
                        + " changed_at = excluded.changed_at, attempts = 0, next_attempt_at = excluded.next_attempt_at, last_error = NULL")
                .bind("k", key).bind("b", bytes).bind("now", now).execute();
    }

    /**
     * Enqueues {@code key} for a check unless it is pending already (the repair job's finding):
     * unlike {@link #changed}, it leaves an existing entry as it is.
     */
    public static boolean enqueueIfAbsent(Handle h, String key, long bytes, long now) {
        return h.createUpdate("INSERT INTO replication_queue (blob_key, generation, bytes, enqueued_at, changed_at, attempts, next_attempt_at,"
                        + " claimed_until, last_error) VALUES (:k, 1, :b, :now, :changed, 0, :now, 0, NULL) ON CONFLICT (blob_key) DO NOTHING")
                .bind("k", key).bind("b", bytes).bind("now", now).bind("changed", now).execute() == 1;
    }

    /**
     * Claims up to {@code limit} entries due at {@code now} and not claimed by another worker,
     * until {@code claimUntil}; returns the ones this call claimed (each claim is a compare-and-set,
     * so two workers never claim one entry).
     */
    public static List<Entry> claim(Handle h, long now, long claimUntil, int limit) {
        List<Entry> due = h.createQuery("SELECT * FROM replication_queue WHERE next_attempt_at <= :now AND claimed_until <= :now"
                        + " ORDER BY next_attempt_at, blob_key LIMIT :limit")
                .bind("now", now).bind("limit", limit).map(ENTRY).list();
        return due.stream().filter(entry -> h.createUpdate("UPDATE replication_queue SET claimed_until = :until"
                        + " WHERE blob_key = :k AND generation = :g AND claimed_until <= :now")
                .bind("until", claimUntil).bind("k", entry.key()).bind("g", entry.generation()).bind("now", now).execute() == 1).toList();
    }

    /** The entry is synced: removed, unless it changed since it was claimed (then it is released to be synced again). */
    public static void done(Handle h, Entry entry) {
        int removed = h.createUpdate("DELETE FROM replication_queue WHERE blob_key = :k AND generation = :g")
                .bind("k", entry.key()).bind("g", entry.generation()).execute();
        if (removed == 0) {
            release(h, entry.key());
        }
    }

    /** The entry is not to be acted on before {@code at} (a deletion waiting for its delay); a change meanwhile wins. */
    public static void postpone(Handle h, Entry entry, long at) {
        h.createUpdate("UPDATE replication_queue SET next_attempt_at = :at, claimed_until = 0 WHERE blob_key = :k AND generation = :g")
                .bind("at", at).bind("k", entry.key()).bind("g", entry.generation()).execute();
        release(h, entry.key());
    }

    /**
     * Makes the deletions waiting for their delay due {@code delay} after their change: the delay
     * as configured now applies (a shorter one takes effect at once).
     */
    public static int rescheduleDeferred(Handle h, long now, long delay) {
        return h.createUpdate("UPDATE replication_queue SET next_attempt_at = changed_at + :delay WHERE " + DEFERRED)
                .bind("delay", delay).bind("now", now).execute();
    }

    /** The sync failed: one more attempt on record, retried at {@code retryAt}; a change meanwhile wins. */
    public static void failed(Handle h, Entry entry, String error, long retryAt) {
        h.createUpdate("UPDATE replication_queue SET attempts = attempts + 1, next_attempt_at = :at, last_error = :e, claimed_until = 0"
                        + " WHERE blob_key = :k AND generation = :g")
                .bind("at", retryAt).bind("e", error.length() > 1000 ? error.substring(0, 1000) : error)
                .bind("k", entry.key()).bind("g", entry.generation()).execute();
        release(h, entry.key());
    }

    private static void release(Handle h, String key) {
        h.createUpdate("UPDATE replication_queue SET claimed_until = 0 WHERE blob_key = :k").bind("k", key).execute();
    }

    /** What is pending at {@code now}. */
    public static Backlog backlog(Handle h, long now) {
        String pending = "NOT " + DEFERRED;
        return h.createQuery("SELECT SUM(CASE WHEN " + pending + " THEN 1 ELSE 0 END) AS entries,"
                        + " SUM(CASE WHEN " + pending + " THEN bytes ELSE 0 END) AS bytes,"
                        + " MIN(CASE WHEN " + pending + " THEN enqueued_at END) AS oldest,"
                        + " SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END) AS failing,"
                        + " SUM(CASE WHEN " + DEFERRED + " THEN 1 ELSE 0 END) AS deferred FROM replication_queue")
                .bind("now", now)
                .map((rs, ctx) -> new Backlog(rs.getLong("entries"), rs.getLong("bytes"), rs.getLong("oldest"), rs.getLong("failing"),
                        rs.getLong("deferred"))).one();
    }

    /** The entries that failed most often, for the status: at most {@code limit}. */
    public static List<Entry> failing(Handle h, int limit) {
        return h.createQuery("SELECT * FROM replication_queue WHERE attempts > 0 ORDER BY attempts DESC, blob_key LIMIT :limit")
                .bind("limit", limit).map(ENTRY).list();
    }

    /** The entry of {@code key}, if pending. */
    public static Optional<Entry> find(Handle h, String key) {
        return h.createQuery("SELECT * FROM replication_queue WHERE blob_key = :k").bind("k", key)
                .map(ENTRY).findOne();
    }
}
