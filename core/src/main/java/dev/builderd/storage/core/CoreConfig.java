package dev.builderd.storage.core;

import dev.builderd.storage.core.crypto.EncryptionConfig;
import dev.builderd.storage.core.fs.TenantIsolation;
import dev.builderd.storage.core.quota.Quotas;
import java.time.Duration;
import java.util.Objects;

/**
 * What the core needs to know, already validated.
 *
 * @param layout where each category's tree lives
 * @param defaultLease how long a build stays active without a heartbeat, unless it asks otherwise
 * @param maxLease the longest lease a build may ask for
 * @param leaseCheckInterval how often expired leases are looked for in the background
 * @param sameNameUploadWait how long an upload waits for another upload of the same artifact to finish
 * @param encryption the master key and how often tenant keys rotate
 * @param quotas soft limit, hard limit action and waits of the quota ledger
 * @param cachePolicy how cache entries are evicted and expired
 * @param janitor how often the retention janitor and the orphan sweep run, and the orphans' grace period
 * @param replication how the replication worker and repair job run, where stores replicate
 *     ({@link dev.builderd.storage.blob.ReplicatingBlobStore}); unused where none does
 * @param cluster how this node shares work with others on the same PostgreSQL
 * @param isolation the tenant groups of the trees' ACLs, and who owns the workspaces builds are handed
 */
public record CoreConfig(Layout layout, Duration defaultLease, Duration maxLease, Duration leaseCheckInterval,
        Duration sameNameUploadWait, EncryptionConfig encryption, Quotas.Config quotas, CacheService.Policy cachePolicy,
        Janitor janitor, Replication replication, Cluster cluster, TenantIsolation.Settings isolation) {

    /** The configuration with the default filesystem isolation settings. */
    public CoreConfig(Layout layout, Duration defaultLease, Duration maxLease, Duration leaseCheckInterval,
            Duration sameNameUploadWait, EncryptionConfig encryption, Quotas.Config quotas, CacheService.Policy cachePolicy,
            Janitor janitor, Replication replication, Cluster cluster) {
        this(layout, defaultLease, maxLease, leaseCheckInterval, sameNameUploadWait, encryption, quotas, cachePolicy, janitor,
                replication, cluster, TenantIsolation.Settings.DEFAULTS);
    }

    /**
     * This node among others sharing one PostgreSQL ({@code docs/deployment.md}).
     *
     * @param jobLease how long a cluster-wide job's lease lasts without renewal ({@link JobLeases}):
     *     the longest a dead node's jobs wait before a survivor takes them (plus a third of it)
     */
    public record Cluster(Duration jobLease) {

        /** 30-second job leases. */
        public static final Cluster DEFAULTS = new Cluster(Duration.ofSeconds(30));

        public Cluster {
            if (jobLease.toMillis() < 300) {
                throw new IllegalArgumentException("the job lease must last at least 300 ms, not " + jobLease);
            }
        }
    }

    /** The configuration with the default cluster settings. */
    public CoreConfig(Layout layout, Duration defaultLease, Duration maxLease, Duration leaseCheckInterval,
            Duration sameNameUploadWait, EncryptionConfig encryption, Quotas.Config quotas, CacheService.Policy cachePolicy,
            Janitor janitor, Replication replication) {
        this(layout, defaultLease, maxLease, leaseCheckInterval, sameNameUploadWait, encryption, quotas, cachePolicy, janitor,
                replication, Cluster.DEFAULTS);
    }

    /**
     * The replication worker's and the repair job's schedule.
     *
     * @param deleteDelay how long after a blob is deleted in the primary its replica is deleted
     *     too (zero: at the next sync): the window in which a mistaken purge can be undone from
     *     the replica
     * @param repairInterval time between two runs of the repair job (zero: only on demand); the
     *     first run starts one interval after start-up
     * @param pollInterval how often the worker looks for due queue entries when it found none
     * @param workers keys synced at once
     */
    public record Replication(Duration deleteDelay, Duration repairInterval, Duration pollInterval, int workers) {

        /** Deletions replicated after 24 hours, a repair every 24 hours, the queue polled every second by 2 workers. */
        public static final Replication DEFAULTS = new Replication(Duration.ofHours(24), Duration.ofHours(24), Duration.ofSeconds(1), 2);

        public Replication {
            if (deleteDelay.isNegative() || repairInterval.isNegative() || pollInterval.isNegative() || pollInterval.isZero()
                    || workers < 1) {
                throw new IllegalArgumentException("replication: the delete delay and repair interval must be zero or more, "
                        + "the poll interval positive, and at least one worker");
            }
        }
    }

    /** The configuration without its replication settings (their defaults apply where a store replicates). */
    public CoreConfig(Layout layout, Duration defaultLease, Duration maxLease, Duration leaseCheckInterval,
            Duration sameNameUploadWait, EncryptionConfig encryption, Quotas.Config quotas, CacheService.Policy cachePolicy,
            Janitor janitor) {
        this(layout, defaultLease, maxLease, leaseCheckInterval, sameNameUploadWait, encryption, quotas, cachePolicy, janitor,
                Replication.DEFAULTS);
    }

    /**
     * The lifecycle janitor's schedule.
     *
     * @param interval time between the end of one run and the start of the next; the first run
     *     starts in the background right after start-up
     * @param orphanGrace how old files without metadata (or rows without files) must be before
     *     the orphan sweep deletes them: longer than any build creation or upload commit takes
     */
    public record Janitor(Duration interval, Duration orphanGrace) {

        /** Hourly, with an hour's grace. */
        public static final Janitor DEFAULTS = new Janitor(Duration.ofHours(1), Duration.ofHours(1));

        public Janitor {
            if (interval.isNegative() || interval.isZero() || orphanGrace.isNegative()) {
                throw new IllegalArgumentException("the janitor's interval must be positive and the orphans' grace zero or more");
            }
        }
    }

    public CoreConfig {
        Objects.requireNonNull(janitor, "janitor");
        Objects.requireNonNull(replication, "replication");
        Objects.requireNonNull(cluster, "cluster");
        Objects.requireNonNull(isolation, "isolation");
        Objects.requireNonNull(layout, "layout");
        Objects.requireNonNull(encryption, "encryption");
        Objects.requireNonNull(quotas, "quotas");
        Objects.requireNonNull(cachePolicy, "cachePolicy");
        if (defaultLease.isNegative() || defaultLease.isZero() || maxLease.compareTo(defaultLease) < 0) {
            throw new IllegalArgumentException("lease durations must be positive, the default at most the maximum");
        }
    }

    /** How long an upload waits, by default, for another upload of the same artifact. */
    public static final Duration SAME_NAME_UPLOAD_WAIT = Duration.ofMinutes(10);

    /**
     * Defaults for a data root: 15-minute leases (at most a day), checked every 30 seconds; the
     * master key in {@code config/encryption-keys/master.key}, tenant keys rotated every 90 days.
     */
    public static CoreConfig defaults(Layout layout) {
        return new CoreConfig(layout, Duration.ofMinutes(15), Duration.ofDays(1), Duration.ofSeconds(30),
                SAME_NAME_UPLOAD_WAIT, defaultEncryption(layout), Quotas.Config.DEFAULTS, CacheService.Policy.DEFAULTS,
                Janitor.DEFAULTS);
    }

    /** The master key file in the layout's key directory, rotation every 90 days. */
    public static EncryptionConfig defaultEncryption(Layout layout) {
        return new EncryptionConfig(new EncryptionConfig.MasterKeyOrigin.KeyFile(
                layout.encryptionKeyDirectory().resolve(dev.builderd.storage.core.crypto.TenantKeys.MASTER_KEY_FILE)),
                EncryptionConfig.DEFAULT_ROTATION);
    }

    /** The same configuration with other encryption settings. */
    public CoreConfig withEncryption(EncryptionConfig other) {
        return new CoreConfig(layout, defaultLease, maxLease, leaseCheckInterval, sameNameUploadWait, other, quotas, cachePolicy, janitor, replication, cluster, isolation);
    }

    /** The same configuration with other quota settings. */
    public CoreConfig withQuotas(Quotas.Config other) {
        return new CoreConfig(layout, defaultLease, maxLease, leaseCheckInterval, sameNameUploadWait, encryption, other,
                cachePolicy, janitor, replication, cluster, isolation);
    }

    /** The same configuration with another cache eviction policy. */
    public CoreConfig withCachePolicy(CacheService.Policy other) {
        return new CoreConfig(layout, defaultLease, maxLease, leaseCheckInterval, sameNameUploadWait, encryption, quotas, other, janitor, replication, cluster, isolation);
    }

    /** The same configuration with another janitor schedule. */
    public CoreConfig withJanitor(Janitor other) {
        return new CoreConfig(layout, defaultLease, maxLease, leaseCheckInterval, sameNameUploadWait, encryption, quotas,
                cachePolicy, other, replication, cluster, isolation);
    }

    /** The same configuration with other cluster settings. */
    public CoreConfig withCluster(Cluster other) {
        return new CoreConfig(layout, defaultLease, maxLease, leaseCheckInterval, sameNameUploadWait, encryption, quotas,
                cachePolicy, janitor, replication, other, isolation);
    }

    /** The same configuration with other replication settings. */
    public CoreConfig withReplication(Replication other) {
        return new CoreConfig(layout, defaultLease, maxLease, leaseCheckInterval, sameNameUploadWait, encryption, quotas,
                cachePolicy, janitor, other, cluster, isolation);
    }

    /** The same configuration with other filesystem isolation settings. */
    public CoreConfig withIsolation(TenantIsolation.Settings other) {
        return new CoreConfig(layout, defaultLease, maxLease, leaseCheckInterval, sameNameUploadWait, encryption, quotas,
                cachePolicy, janitor, replication, cluster, other);
    }
}
