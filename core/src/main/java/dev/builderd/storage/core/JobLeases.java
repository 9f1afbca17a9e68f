package dev.builderd.storage.core;

import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which node runs each cluster-wide background job: a lease per {@link Job}, held by one node at
 * a time, so that several daemons sharing one PostgreSQL run each job once, not once per node.
 *
 * <p>On PostgreSQL a lease is a row of {@code job_leases} (holder, expiry). A row rather than
 * {@code pg_try_advisory_lock}: a session-level advisory lock belongs to one connection, and the
 * pool hands connections out and recycles them, so the lock would have to pin a connection of its
 * own for the life of the node, and its loss (a dropped connection) would be silent; a row is
 * visible to operators ({@code SELECT * FROM job_leases}), works through any pooled connection and
 * carries the holder's name. Expiry uses the database's clock, so nodes' clocks need not agree.
 *
 * <p>A heartbeat every third of the lease duration renews the leases this node holds and takes
 * those that are free or expired, so a dead holder's jobs move to a survivor within one lease
 * duration plus one heartbeat; a node that {@linkplain #close closes} releases its leases at once,
 * and a survivor takes them at its next heartbeat. This node counts a lease as held only until
 * one lease duration after the start of its last successful renewal, which is never later than
 * the expiry the database recorded: two nodes never both believe they hold a job. A round that
 * is running when its lease runs out (the database unreachable for a whole lease) still finishes,
 * and may overlap the next holder's: the same overlap every node's rounds had before leases
 * existed (the jobs change the metadata in transactions); leases make it the exception.
 *
 * <p>On SQLite there is one node by construction (the file is local), and it holds every job.
 */
public final class JobLeases implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(JobLeases.class);

    /** The cluster-wide background jobs. Per-node work (measuring the builds hosted here) has none. */
    public enum Job {
        /** Fails builds whose lease expired. */
        BUILD_LEASE_REAPER,
        /** Sweeps expired quota reservations, repairs the cache index and artifacts, reconciles the ledger. */
        QUOTA_RECONCILIATION,
        /** The retention janitor and the orphan sweep. */
        JANITOR,
        /** Expires cache entries past their maximum retention. */
        CACHE_EXPIRY,
        /** The scheduled integrity scrub pass. */
        INTEGRITY_SCRUB,
        /** The check for tenant keys due for rotation. */
        KEY_ROTATION,
        /** The replication repair job (the queue's worker is shared by claiming rows, not leased). */
        REPLICATION_REPAIR,
        /** The scheduled backup of every tenant and prune ({@code UNKEY_BUILDERD_BACKUP_SCHEDULE}). */
        BACKUP_SCHEDULE,
        /** The tenants' re-encryption jobs, whichever node started them. */
        REENCRYPTION;

        /** The name in the {@code job_leases} table and the metric's label. */
        public String wireName() {
            return name().toLowerCase(Locale.ROOT).replace('_', '-');
        }
    }

    /** The SQL of one acquire-or-renew: the update happens only when this node holds the row or it expired. */
    private static final String ACQUIRE = """
            INSERT INTO job_leases (job, holder, acquired_at, expires_at)
            VALUES (:job, :node, %1$s, %1$s + :lease)
            ON CONFLICT (job) DO UPDATE SET
                holder = EXCLUDED.holder,
                expires_at = EXCLUDED.expires_at,
                acquired_at = CASE WHEN job_leases.holder = EXCLUDED.holder THEN job_leases.acquired_at ELSE EXCLUDED.acquired_at END
            WHERE job_leases.holder = EXCLUDED.holder OR job_leases.expires_at < EXCLUDED.acquired_at
            """.formatted(MetadataStore.DATABASE_NOW_MILLIS);

    private final MetadataStore metadata;
    private final String node;
    private final Duration lease;
    private final boolean shared;
    /** Until when (System.nanoTime) this node counts each lease as held; absent: not held. */
    private final Map<Job, Long> heldUntil = java.util.Collections.synchronizedMap(new EnumMap<>(Job.class));
    private final ScheduledExecutorService heartbeat;

    /**
     * Takes the free leases at once (so that jobs scheduled right after start-up find them) and
     * starts the heartbeat.
     *
     * @param node this node's name, unique in the cluster and the same across its restarts (a
     *     restarted node takes back the leases it held at once)
     * @param lease how long a lease lasts without renewal: the longest a dead node's jobs wait
     *     (plus one heartbeat, a third of it)
     */
    public JobLeases(MetadataStore metadata, String node, Duration lease, PrometheusRegistry registry) {
        if (lease.toMillis() < 300) {
            throw new IllegalArgumentException("a job lease must last at least 300 ms, not " + lease);
        }
        this.metadata = metadata;
        this.node = node;
        this.lease = lease;
        this.shared = metadata.location().dialect() == MetadataLocation.Dialect.POSTGRESQL;
        GaugeWithCallback.builder().name("builderd_job_lease_held")
                .help("Whether this node holds the lease of a cluster-wide background job (1) or another node does (0)")
                .labelNames("job")
                .callback(callback -> {
                    for (Job job : Job.values()) {
                        callback.call(holds(job) ? 1 : 0, job.wireName());
                    }
                })
                .register(registry);
        if (shared) {
            heartbeat();
            this.heartbeat = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().name("builderd-job-leases").daemon().factory());
            long every = Math.max(100, lease.toMillis() / 3);
            heartbeat.scheduleWithFixedDelay(this::heartbeat, every, every, TimeUnit.MILLISECONDS);
        } else {
            this.heartbeat = null;
        }
    }

    /** Whether this node holds {@code job}'s lease now (always, on SQLite). */
    public boolean holds(Job job) {
        if (!shared) {
            return true;
        }
        Long until = heldUntil.get(job);
        return until != null && until - System.nanoTime() > 0;
    }

    /** The jobs whose lease this node holds now. */
    public Set<Job> held() {
        Set<Job> held = EnumSet.noneOf(Job.class);
        for (Job job : Job.values()) {
            if (holds(job)) {
                held.add(job);
            }
        }
        return held;
    }

    /** Runs {@code round} in the calling thread if this node holds {@code job}'s lease; returns whether it ran. */
    public boolean runIfHeld(Job job, Runnable round) {
        if (!holds(job)) {
            return false;
        }
        round.run();
        return true;
    }

    /** This node's name, as leases record it. */
    public String node() {
        return node;
    }

    /** Renews the held leases and takes the free or expired ones. A failure leaves the leases to expire. */
    private void heartbeat() {
        for (Job job : Job.values()) {
            long started = System.nanoTime();
            try {
                int updated = metadata.inTransaction(h -> h.createUpdate(ACQUIRE).bind("job", job.wireName()).bind("node", node)
                        .bind("lease", lease.toMillis()).execute());
                boolean had = holds(job);
                if (updated == 1) {
                    heldUntil.put(job, started + lease.toNanos());
                    if (!had) {
                        LOG.info("event=job_lease_acquired job={} node={}", job.wireName(), node);
                    }
                } else {
                    heldUntil.remove(job);
                    if (had) {
                        LOG.warn("event=job_lease_lost job={} node={}: another node took it", job.wireName(), node);
                    }
                }
            } catch (RuntimeException e) {
                LOG.warn("renewing the lease of job {} failed (it lapses unless a later heartbeat succeeds): {}", job.wireName(),
                        e.getMessage());
            }
        }
    }

    /** Stops the heartbeat and releases this node's leases, so that another node takes them at its next heartbeat. */
    @Override
    public void close() {
        if (heartbeat == null) {
            return;
        }
        heartbeat.shutdownNow();
        try {
            heartbeat.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        heldUntil.clear();
        try {
            metadata.inTransaction(h -> h.createUpdate("DELETE FROM job_leases WHERE holder = :node").bind("node", node).execute());
        } catch (RuntimeException e) {
            LOG.warn("releasing the job leases of {} failed (they expire within {} s): {}", node, lease.toSeconds(), e.getMessage());
        }
    }
}
