package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.TieredBlobStore;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps this node's cache tiers (memory, disk) coherent with the caches' shared remote when
 * several nodes share it (PostgreSQL metadata): every write and delete this node's tiers pass to
 * the remote is announced as a row of {@code cache_changes}, and every {@link #POLL_INTERVAL}
 * this node reads the rows other nodes wrote since its last poll and drops its copies of those
 * keys. So a cache entry deleted, evicted or replaced through one node is served by no other
 * node's tiers for longer than {@link #BOUND}.
 *
 * <p>Rows are matched by the database's clock, looking {@link #LOOKBACK_MILLIS} back past the
 * previous poll: a row stamped before a poll but committed after it is still seen by the next
 * one (each row is applied once). A node records how far it applied the rows, at most once every
 * {@link #CURSOR_INTERVAL} and when it closes (replaying a little more than it missed only drops
 * entries its tiers refill); restarted within
 * {@link #RETENTION} it replays what it missed, otherwise (or the first time) it drops its whole
 * disk tier, which is only a cache. A node that dies between changing the remote and announcing
 * it leaves that one change to the tiers' eviction.
 *
 * <p>On SQLite there is one node by construction, and nothing to do.
 */
final class CacheCoherence implements AutoCloseable {

    /** How often a node reads the changes announced by the others. */
    static final Duration POLL_INTERVAL = Duration.ofSeconds(1);
    /** The longest a change announced by another node goes unseen by this node's tiers (a poll, and its query). */
    public static final Duration BOUND = Duration.ofSeconds(2);
    /** How long announced changes are kept for a restarted node to replay. */
    static final Duration RETENTION = Duration.ofDays(1);
    /** How far before the previous poll a poll looks: longer than any announcement takes to commit. */
    private static final long LOOKBACK_MILLIS = 10_000;
    private static final Duration PRUNE_INTERVAL = Duration.ofMinutes(10);
    /** How often a node records how far it applied the changes, rather than at every poll. */
    static final Duration CURSOR_INTERVAL = Duration.ofMinutes(1);
    private static final String NOW = MetadataStore.DATABASE_NOW_MILLIS;
    private static final Logger LOG = LoggerFactory.getLogger(CacheCoherence.class);

    private record Change(String node, long id, String blobKey, long changedAt) {
        String identity() {
            return node + "/" + id;
        }
    }

    private record Poll(long now, List<Change> changes) {
    }

    private final MetadataStore metadata;
    private final String node;
    private final TieredBlobStore tiers;
    private final Counter forgotten;
    private final Counter polls;
    /** Counts up from the start time in microseconds, so that a restarted node never reuses an id. */
    private final AtomicLong nextId = new AtomicLong(System.currentTimeMillis() * 1000);
    /** Rows of the lookback window already applied, with their times. Used by the poller only. */
    private final Map<String, Long> applied = new HashMap<>();
    private final ScheduledExecutorService poller;
    /** The database time of the last successful poll. Used by the poller only. */
    private long appliedUntil;
    private long prunedAt;
    /** The {@link #appliedUntil} last recorded in {@code cache_change_cursors}. Used by the poller only. */
    private long cursorWrittenAt;

    /**
     * Starts announcing and applying changes of {@code tiers}' remote when the metadata store is
     * shared by several nodes; empty otherwise.
     */
    static Optional<CacheCoherence> start(MetadataStore metadata, String node, Optional<TieredBlobStore> tiers, PrometheusRegistry registry)
            throws IOException {
        if (tiers.isEmpty() || metadata.location().dialect() != MetadataLocation.Dialect.POSTGRESQL) {
            return Optional.empty();
        }
        return Optional.of(new CacheCoherence(metadata, node, tiers.get(), registry));
    }

    private CacheCoherence(MetadataStore metadata, String node, TieredBlobStore tiers, PrometheusRegistry registry) throws IOException {
        this.metadata = metadata;
        this.node = node;
        this.tiers = tiers;
        this.forgotten = Counter.builder().name("builderd_cache_tier_remote_changes_applied_total")
                .help("Cache entries this node dropped from its memory and disk tiers because another node changed or deleted them")
                .register(registry);
        this.polls = Counter.builder().name("builderd_cache_coherence_polls_total")
                .help("Reads of the cache changes other nodes announced, by this node (one a second while it runs)")
                .register(registry);
        tiers.announceWritesTo(this::announce);
        long now = metadata.read(h -> h.createQuery("SELECT " + NOW).mapTo(Long.class).one());
        Optional<Long> cursor = metadata.read(h -> h.createQuery("SELECT applied_until FROM cache_change_cursors WHERE node = :node")
                .bind("node", node).mapTo(Long.class).findOne());
        if (cursor.isPresent() && cursor.get() - LOOKBACK_MILLIS > now - RETENTION.toMillis()) {
            appliedUntil = cursor.get();
            poll();
            LOG.info("event=cache_tiers_replayed node={}: applied the cache changes other nodes made since this node last ran", node);
        } else {
            tiers.forgetAll();
            appliedUntil = now;
            LOG.info("event=cache_tiers_cleared node={}: no record of which cache changes this node applied within {}, so its tiers"
                    + " were emptied", node, RETENTION);
        }
        this.poller = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().name("cache-coherence").daemon().factory());
        poller.scheduleWithFixedDelay(this::pollQuietly, POLL_INTERVAL.toMillis(), POLL_INTERVAL.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Records that this node changed {@code keys} in the remote. */
    private void announce(List<BlobKey> keys) {
        metadata.inTransaction(h -> {
            var batch = h.prepareBatch("INSERT INTO cache_changes (node, id, blob_key, changed_at) VALUES (:node, :id, :key, " + NOW + ")");
            for (BlobKey key : keys) {
                batch.bind("node", node).bind("id", nextId.incrementAndGet()).bind("key", key.value()).add();
            }
            batch.execute();
            return null;
        });
    }

    private void pollQuietly() {
        try {
            poll();
        } catch (RuntimeException e) {
            // The next poll looks back from the last one that worked: nothing is skipped.
            LOG.warn("event=cache_coherence_poll_failed: reading other nodes' cache changes failed: {}", e.getMessage());
        }
    }

    private void poll() {
        long since = appliedUntil - LOOKBACK_MILLIS;
        Poll poll = metadata.read(h -> {
            long now = h.createQuery("SELECT " + NOW).mapTo(Long.class).one();
            List<Change> changes = h.createQuery("""
                    SELECT node, id, blob_key, changed_at FROM cache_changes
                    WHERE changed_at > :since AND node <> :node ORDER BY changed_at""")
                    .bind("since", since).bind("node", node)
                    .map((rs, ctx) -> new Change(rs.getString(1), rs.getLong(2), rs.getString(3), rs.getLong(4))).list();
            return new Poll(now, changes);
        });
        for (Change change : poll.changes()) {
            if (applied.putIfAbsent(change.identity(), change.changedAt()) == null) {
                tiers.forget(BlobKey.of(change.blobKey()));
                forgotten.inc();
            }
        }
        appliedUntil = poll.now();
        long stillLooked = appliedUntil - LOOKBACK_MILLIS;
        applied.values().removeIf(changedAt -> changedAt <= stillLooked);
        if (appliedUntil - cursorWrittenAt >= CURSOR_INTERVAL.toMillis()) {
            writeCursor();
        }
        polls.inc();
        if (appliedUntil - prunedAt > PRUNE_INTERVAL.toMillis()) {
            // Any node may prune: the rows past retention are the same for all, and deleting them twice is harmless.
            metadata.inTransaction(h -> h.createUpdate("DELETE FROM cache_changes WHERE changed_at < :before")
                    .bind("before", appliedUntil - RETENTION.toMillis()).execute());
            prunedAt = appliedUntil;
        }
    }

    private void writeCursor() {
        long until = appliedUntil;
        metadata.inTransaction(h -> h.createUpdate("""
                INSERT INTO cache_change_cursors (node, applied_until) VALUES (:node, :until)
                ON CONFLICT (node) DO UPDATE SET applied_until = EXCLUDED.applied_until""")
                .bind("node", node).bind("until", until).execute());
        cursorWrittenAt = until;
    }

    /**
     * Stops polling and records how far this node applied the changes, so that a restart replays
     * only what it missed; this node's later writes (none, once it is closed) would still be announced.
     */
    @Override
    public void close() {
        poller.shutdownNow();
        try {
            if (poller.awaitTermination(5, TimeUnit.SECONDS)) {
                writeCursor();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            // The cursor of the last minute stays: the next start replays a little more than it missed.
            LOG.warn("event=cache_coherence_cursor_not_saved node={}: {}", node, e.getMessage());
        }
    }
}
