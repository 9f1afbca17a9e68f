package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.ReplicatingBlobStore;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.core.error.ConflictException;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.ReplicationRows;
import dev.builderd.storage.core.model.Principal;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Asynchronous replication of the stores that are {@link ReplicatingBlobStore}s: a worker that
 * takes the keys of the {@link ReplicationQueue} and makes the secondary match the primary for
 * each — a blob the primary has is copied as stored (ciphertext for an encrypted tenant); a blob
 * the primary no longer has is deleted from the secondary once the delete delay has passed since
 * the deletion — retrying failures with exponential backoff; a repair job that walks primary and
 * secondary in key order and enqueues every divergence; and the metrics of both.
 *
 * <p>The worker syncs a key from the primary's state when it runs, not from the change that was
 * noted, so that several changes of a key cost one copy, and an interrupted sync is simply done
 * again.
 */
public final class Replication implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Replication.class);
    private static final int BATCH = 64;
    private static final Duration CLAIM = Duration.ofHours(1);
    private static final Duration MAX_BACKOFF = Duration.ofMinutes(15);

    /** What a repair run found: keys compared on each side, and the divergences it enqueued. */
    public record Repair(long primaryBlobs, long secondaryBlobs, long missingInReplica, long sizeDiffers, long onlyInReplica,
            Instant started, Instant finished) {

        public long divergences() {
            return missingInReplica + sizeDiffers + onlyInReplica;
        }
    }

    /**
     * The replication as it stands.
     *
     * @param pending keys to sync (deletions waiting for their delay not counted)
     * @param lag how long the oldest of them has been waiting
     * @param failures the keys that failed most often, with their last error
     */
    public record Status(List<String> replicas, long pending, long pendingBytes, Duration lag, long failing, long deferredDeletes,
            Duration deleteDelay, List<ReplicationRows.Entry> failures, Optional<Repair> lastRepair, boolean repairRunning) {
    }

    private final MetadataStore metadata;
    private final Stores backends;
    private final ReplicationScope routes = new ReplicationScope(true);
    private final CoreConfig.Replication config;
    private final Clock clock;
    private final List<ReplicatingBlobStore> replicating;
    private final ExecutorService workers;
    private final ScheduledExecutorService scheduler =
            Executors.newScheduledThreadPool(2, Thread.ofPlatform().name("replication-scheduler-", 0).daemon().factory());
    private final AtomicBoolean repairRunning = new AtomicBoolean();
    private final AtomicReference<Repair> lastRepair = new AtomicReference<>();
    private final Counter copied;
    private final Counter copiedBytes;
    private final Counter deleted;
    private final Counter failures;
    private final Counter divergences;

    /**
     * @param backends the stores without tiers in front: where they are
     *     {@link ReplicatingBlobStore}s, their keys are replicated
     */
    Replication(MetadataStore metadata, Stores backends, CoreConfig.Replication config, Clock clock, PrometheusRegistry registry) {
        this.metadata = metadata;
        this.backends = backends;
        this.config = config;
        this.clock = clock;
        this.replicating = replicating(backends);
        this.workers = Executors.newFixedThreadPool(config.workers(), Thread.ofPlatform().name("replication-", 0).daemon().factory());
        copied = Counter.builder().name("builderd_replication_copied").help("Blobs copied to the replica").register(registry);
        copiedBytes = Counter.builder().name("builderd_replication_copied_bytes").help("Bytes copied to the replica").register(registry);
        deleted = Counter.builder().name("builderd_replication_deleted").help("Blobs deleted from the replica after their delete delay")
                .register(registry);
        failures = Counter.builder().name("builderd_replication_failures").help("Syncs of a key that failed (each is retried)")
                .register(registry);
        divergences = Counter.builder().name("builderd_replication_repair_divergences")
                .help("Differences between primary and replica the repair job found and enqueued").register(registry);
        GaugeWithCallback.builder().name("builderd_replication_lag_seconds")
                .help("How long the oldest change not yet replicated has been waiting (0: the replica is up to date)")
                .callback(callback -> callback.call(lag(backlog()).toMillis() / 1000.0))
                .register(registry);
        GaugeWithCallback.builder().name("builderd_replication_lag_bytes")
                .help("Bytes of the changes not yet replicated").callback(callback -> callback.call(backlog().bytes())).register(registry);
        GaugeWithCallback.builder().name("builderd_replication_queue_entries")
                .help("Keys waiting in the replication queue, by state: pending (to sync), failing (retried with backoff),"
                        + " deferred (deletions waiting for the delete delay)")
                .labelNames("state")
                .callback(callback -> {
                    ReplicationRows.Backlog backlog = backlog();
                    callback.call(backlog.entries(), "pending");
                    callback.call(backlog.failing(), "failing");
                    callback.call(backlog.deferredDeletes(), "deferred");
                })
                .register(registry);
        GaugeWithCallback.builder().name("builderd_replication_last_repair_timestamp_seconds")
                .help("When the last replication repair run ended (0: none since start)")
                .callback(callback -> callback.call(Optional.ofNullable(lastRepair.get())
                        .map(repair -> repair.finished().toEpochMilli() / 1000.0).orElse(0.0)))
                .register(registry);
    }

    /** The distinct replicating stores among {@code backends}. */
    static List<ReplicatingBlobStore> replicating(Stores backends) {
        return backends.distinct().stream().filter(ReplicatingBlobStore.class::isInstance).map(ReplicatingBlobStore.class::cast).toList();
    }

    /**
     * From now on the worker polls the queue every poll interval, and the repair job runs every
     * repair interval (the first one interval from now), each on threads of its own, so that a
     * long copy delays no other background job. The repair runs only when {@code repairMayRun}
     * says so (the node holds its job lease); the worker runs on every node, each claiming rows.
     */
    void start(java.util.function.BooleanSupplier repairMayRun) {
        long now = clock.millis();
        int rescheduled = metadata.inTransaction(h -> ReplicationRows.rescheduleDeferred(h, now, config.deleteDelay().toMillis()));
        if (rescheduled > 0) {
            LOG.info("{} deletion(s) wait for the replica's delete delay of {} h after their deletion in the primary", rescheduled,
                    config.deleteDelay().toHours());
        }
        long poll = config.pollInterval().toMillis();
        scheduler.scheduleWithFixedDelay(() -> {
            try {
                drain();
            } catch (RuntimeException e) {
                LOG.error("the replication worker failed: {}", e.getMessage(), e);
            }
        }, poll, poll, TimeUnit.MILLISECONDS);
        if (!config.repairInterval().isZero()) {
            long repair = config.repairInterval().toMillis();
            scheduler.scheduleWithFixedDelay(() -> {
                if (repairMayRun.getAsBoolean()) {
                    repairIfIdle();
                }
            }, repair, repair, TimeUnit.MILLISECONDS);
        }
    }

    /** Syncs every due key, batch after batch, until none is due; returns how many were handled. */
    public int drain() {
        int handled = 0;
        for (int batch; (batch = syncDue()) > 0; ) {
            handled += batch;
        }
        return handled;
    }

    /** Claims one batch of due keys and syncs them on the workers; returns how many. */
    private int syncDue() {
        long now = clock.millis();
        List<ReplicationRows.Entry> claimed = metadata.inTransaction(h -> ReplicationRows.claim(h, now, now + CLAIM.toMillis(), BATCH));
        List<Future<?>> running = new ArrayList<>();
        for (ReplicationRows.Entry entry : claimed) {
            running.add(workers.submit(() -> sync(entry)));
        }
        for (Future<?> task : running) {
            try {
                task.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while syncing replicas", e);
            } catch (java.util.concurrent.ExecutionException e) {
                LOG.error("syncing a replica failed unexpectedly: {}", e.getCause().getMessage(), e.getCause());
            }
        }
        return claimed.size();
    }

    /** Makes the secondary match the primary for one key; records the outcome in the queue. */
    private void sync(ReplicationRows.Entry entry) {
        BlobKey key = BlobKey.of(entry.key());
        Optional<ReplicatingBlobStore> store = storeOf(key);
        if (store.isEmpty()) {
            LOG.warn("the replication queue holds {}, which no replicating store holds; dropped", key);
            metadata.inTransaction(h -> {
                ReplicationRows.done(h, entry);
                return null;
            });
            return;
        }
        BlobStore primary = store.get().primary();
        BlobStore secondary = store.get().secondary();
        try {
            Optional<BlobInfo> stored = primary.stat(key);
            if (stored.isPresent()) {
                try (InputStream in = primary.open(key, ByteRange.ALL)) {
                    BlobInfo copy = secondary.put(key, in, stored.get().size(), WriteMode.OVERWRITE);
                    copied.inc();
                    copiedBytes.inc(copy.size());
                }
            } else {
                long due = entry.changedAt() + config.deleteDelay().toMillis();
                if (clock.millis() < due) {
                    metadata.inTransaction(h -> {
                        ReplicationRows.postpone(h, entry, due);
                        return null;
                    });
                    return;
                }
                if (secondary.delete(key)) {
                    deleted.inc();
                    LOG.info("event=replica_deleted key={}: deleted in the primary {} ago", key,
                            Duration.ofMillis(clock.millis() - entry.changedAt()));
                }
            }
            metadata.inTransaction(h -> {
                ReplicationRows.done(h, entry);
                return null;
            });
        } catch (IOException | UncheckedIOException | dev.builderd.storage.core.error.StorageException e) {
            failures.inc();
            long backoff = Math.min(MAX_BACKOFF.toMillis(), 1000L << Math.min(entry.attempts(), 20));
            String error = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
            LOG.warn("replicating {} failed (attempt {}), retrying in {} s: {}", key, entry.attempts() + 1, backoff / 1000, error);
            metadata.inTransaction(h -> {
                ReplicationRows.failed(h, entry, error, clock.millis() + backoff);
                return null;
            });
        }
    }

    private Optional<ReplicatingBlobStore> storeOf(BlobKey key) {
        if (!routes.test(key)) {
            return Optional.empty();
        }
        return routes.storeOf(key, backends) instanceof ReplicatingBlobStore store && store.replicates(key)
                ? Optional.of(store) : Optional.empty();
    }

    /** Runs a repair now, in the calling thread (admin only), and returns what it found; 409 while one runs. */
    public Repair repair(Principal caller) {
        caller.requireAdmin("starting a replication repair");
        return repairIfIdle().orElseThrow(() -> new ConflictException(
                "a replication repair is running already, or the last one failed (see the log); see GET /v1/admin/replication"));
    }

    /** Runs a repair in the calling thread unless one runs already; returns what it found (empty if one was running). */
    public Optional<Repair> repairIfIdle() {
        if (!repairRunning.compareAndSet(false, true)) {
            return Optional.empty();
        }
        try {
            Repair repair = repair();
            lastRepair.set(repair);
            LOG.info("replication repair: {} blobs in the primary, {} in the replica; enqueued {} missing in the replica, {} of another"
                            + " size, {} only in the replica", repair.primaryBlobs(), repair.secondaryBlobs(), repair.missingInReplica(),
                    repair.sizeDiffers(), repair.onlyInReplica());
            return Optional.of(repair);
        } catch (IOException | RuntimeException e) {
            LOG.error("the replication repair failed: {}", e.getMessage(), e);
            return Optional.empty();
        } finally {
            repairRunning.set(false);
        }
    }

    /**
     * Walks each replicating store's primary and secondary side by side in key order (never
     * holding more than one blob of each) and enqueues every key where they differ: missing in
     * the secondary or of another size (copied), or only in the secondary (deleted after the delay).
     */
    private Repair repair() throws IOException {
        Instant started = clock.instant();
        long[] counts = new long[5];
        for (ReplicatingBlobStore store : replicating) {
            for (String prefix : routes.prefixes()) {
                Iterator<BlobInfo> primary = owned(store, store.primary().list(prefix, null));
                Iterator<BlobInfo> secondary = owned(store, store.secondary().list(prefix, null));
                BlobInfo p = next(primary);
                BlobInfo s = next(secondary);
                while (p != null || s != null) {
                    int order = p == null ? 1 : s == null ? -1 : p.key().value().compareTo(s.key().value());
                    if (order < 0) {
                        counts[0]++;
                        enqueue(p, counts, 2);
                        p = next(primary);
                    } else if (order > 0) {
                        counts[1]++;
                        enqueue(s, counts, 4);
                        s = next(secondary);
                    } else {
                        counts[0]++;
                        counts[1]++;
                        if (p.size() != s.size()) {
                            enqueue(p, counts, 3);
                        }
                        p = next(primary);
                        s = next(secondary);
                    }
                }
            }
        }
        return new Repair(counts[0], counts[1], counts[2], counts[3], counts[4], started, clock.instant());
    }

    private void enqueue(BlobInfo blob, long[] counts, int reason) {
        long now = clock.millis();
        metadata.inTransaction(h -> ReplicationRows.enqueueIfAbsent(h, blob.key().value(), blob.size(), now));
        counts[reason]++;
        divergences.inc();
    }

    /** The blobs of a listing that {@code store} replicates and holds (a replica shared by several stores holds the others' too). */
    private Iterator<BlobInfo> owned(ReplicatingBlobStore store, Iterator<BlobInfo> blobs) {
        return java.util.stream.StreamSupport.stream(java.util.Spliterators.spliteratorUnknownSize(blobs, java.util.Spliterator.ORDERED), false)
                .filter(blob -> storeOf(blob.key()).filter(owner -> owner == store).isPresent()).iterator();
    }

    private static BlobInfo next(Iterator<BlobInfo> blobs) {
        return blobs.hasNext() ? blobs.next() : null;
    }

    /** The replica stores, each once: what health checks probe. */
    public List<BlobStore> replicas() {
        return replicating.stream().map(ReplicatingBlobStore::secondary).distinct().toList();
    }

    /** The replication as it stands (admin only: failures name tenants' keys). */
    public Status status(Principal caller) {
        caller.requireAdmin("reading the replication status");
        return status();
    }

    /** The replication as it stands, for health reports. */
    public Status status() {
        ReplicationRows.Backlog backlog = backlog();
        return new Status(replicas().stream().map(BlobStore::backendName).toList(), backlog.entries(),
                backlog.bytes(), lag(backlog), backlog.failing(), backlog.deferredDeletes(), config.deleteDelay(),
                metadata.read(h -> ReplicationRows.failing(h, 20)), Optional.ofNullable(lastRepair.get()), repairRunning.get());
    }

    /** How long the oldest pending change has waited. */
    private Duration lag(ReplicationRows.Backlog backlog) {
        return backlog.oldestEnqueuedAt() == 0 ? Duration.ZERO : Duration.ofMillis(Math.max(0, clock.millis() - backlog.oldestEnqueuedAt()));
    }

    private ReplicationRows.Backlog backlog() {
        long now = clock.millis();
        return metadata.read(h -> ReplicationRows.backlog(h, now));
    }

    @Override
    public void close() {
        scheduler.shutdownNow();
        workers.shutdownNow();
    }
}
