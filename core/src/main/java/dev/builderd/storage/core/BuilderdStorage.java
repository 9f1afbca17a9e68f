package dev.builderd.storage.core;

import dev.builderd.storage.blob.TieredBlobStore;
import dev.builderd.storage.core.fs.PosixAcls;
import dev.builderd.storage.core.fs.TenantIsolation;
import dev.builderd.storage.core.metadata.BuildRows;
import dev.builderd.storage.core.metadata.TenantRows;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.quota.DirectoryUsage;
import dev.builderd.storage.core.quota.Quotas;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import dev.builderd.storage.blob.BlobStore;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Builderd Storage as a library: the services of the domain over a metadata store and blob
 * stores, plus their background jobs. A builder process may embed this directly; the daemon
 * wraps it in HTTP. Close it to stop the background jobs (the metadata store and blob stores
 * belong to the caller).
 */
public final class BuilderdStorage implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(BuilderdStorage.class);

    private final Tokens tokens;
    private final TenantService tenants;
    private final BuildService builds;
    private final ArtifactService artifacts;
    private final LogService logs;
    private final TenantEncryption encryption;
    private final Quotas quotas;
    private final QuotaReconciliation reconciliation;
    private final ArtifactRepair artifactRepair;
    private final CacheService caches;
    private final CacheWarming warming;
    private final IntegrityScrub scrub;
    private final DirectoryUsage directoryUsage;
    private final QuotaScan scan;
    private final RetentionJanitor retention;
    private final OrphanSweep orphans;
    private final Optional<Replication> replication;
    private final PrometheusRegistry metrics = new PrometheusRegistry();
    private final CoreConfig config;
    private final MetadataStore metadata;
    private final Stores stores;
    private final Stores encrypted;
    private final RetentionPolicies policies;
    private final Clock clock;
    private volatile BackupService backups;
    private final ScheduledExecutorService background;
    private final String nodeName;
    private final JobLeases jobLeases;
    private final Optional<CacheCoherence> cacheCoherence;
    private final BuildActivity activity;
    private final TenantIsolation isolation;

    /**
     * Wires the services, creates the fixed directory tree, loads the encryption keys and starts
     * the background jobs. Artifacts, logs and caches of tenants with keys are encrypted on their
     * way into {@code stores}.
     *
     * @param adminToken the operator's bearer token (at least 16 characters)
     * @throws IllegalStateException with a message for the operator when the master key is
     *     missing, damaged or not the one that wrapped the tenants' keys
     */
    public BuilderdStorage(CoreConfig config, MetadataStore metadata, Stores stores, String adminToken, Clock clock)
            throws IOException {
        config.layout().createSkeleton();
        this.config = config;
        this.metadata = metadata;
        this.stores = stores;
        this.clock = clock;
        this.nodeName = nodeName(config.layout());
        this.activity = new BuildActivity(metadata, nodeName);
        this.encryption = new TenantEncryption(config.encryption(), config.layout(), metadata, stores, activity, metrics, clock);
        this.encrypted = encryption.stores().map(new MeteredBlobStore.Meters(metrics, config.layout())::wrap);
        QuotaMetrics quotaMetrics = new QuotaMetrics(metrics, metadata);
        this.quotas = new Quotas(metadata, config.quotas(), clock, nodeName, this::freeCache,
                quotaMetrics::crossed);
        quotaMetrics.watch(quotas);
        quotas.sweep(true);
        this.tokens = new Tokens(metadata, adminToken, clock);
        this.policies = new RetentionPolicies(config.layout());
        this.isolation = new TenantIsolation(config.layout(), config.isolation(), PosixAcls.find());
        isolation.checkWorkspaceOwnership();
        this.tenants = new TenantService(metadata, config.layout(), stores, tokens, encryption, quotas, policies, isolation, clock);
        this.builds = new BuildService(metadata, stores, encrypted.logs(), activity, config, quotas, isolation, clock, nodeName, tokens);
        this.artifacts = new ArtifactService(metadata, encrypted, activity, builds, config, quotas, clock);
        this.logs = new LogService(metadata, encrypted, activity, builds, config, quotas);
        this.caches = new CacheService(metadata, encrypted, quotas, config.cachePolicy(), clock, metrics);
        this.warming = new CacheWarming(metadata, caches, stores.cacheTiers().map(CacheWarming.LocalTiers::of)
                .orElseGet(() -> CacheWarming.LocalTiers.none(stores.caches())), clock);
        stores.cacheTiers().ifPresent(tiers -> CacheTierMetrics.register(metrics, tiers));
        this.cacheCoherence = CacheCoherence.start(metadata, nodeName, stores.cacheTiers(), metrics);
        io.prometheus.metrics.core.metrics.GaugeWithCallback.builder().name("builderd_builds_active")
                .help("Builds running now (holding a lease), by tenant")
                .labelNames("tenant_id")
                .callback(callback -> metadata.read(BuildRows::active).stream()
                        .collect(java.util.stream.Collectors.groupingBy(build -> build.ref().tenant().value(), java.util.stream.Collectors.counting()))
                        .forEach((tenant, count) -> callback.call(count, tenant)))
                .register(metrics);
        // The scrub reads the backends themselves: a tier's copy would hide damage in the backend.
        Stores backends = stores.map(store -> store instanceof TieredBlobStore tiered ? tiered.remote() : store);
        this.scrub = new IntegrityScrub(metadata, backends, encryption::encryptingView, config.layout(), caches, clock, metrics);
        this.replication = Replication.replicating(backends).isEmpty() ? Optional.empty()
                : Optional.of(new Replication(metadata, backends, config.replication(), clock, metrics));
        JanitorLog janitorLog = new JanitorLog(metadata, clock, metrics);
        this.retention = new RetentionJanitor(metadata, policies, builds, logs, janitorLog, clock);
        this.orphans = new OrphanSweep(metadata, config.layout(), stores, artifacts, janitorLog, clock, config.janitor().orphanGrace());
        this.reconciliation = new QuotaReconciliation(metadata, quotas, encrypted, config.layout());
        this.artifactRepair = new ArtifactRepair(metadata, encrypted, config.layout(), quotas, activity, artifacts, clock);
        this.directoryUsage = new DirectoryUsage(2);
        this.scan = new QuotaScan(metadata, quotas, config.layout(), directoryUsage, nodeName);
        // Each cluster-wide job runs only on the node holding its lease; per-node work (access times
        // batched in this node's memory, the directories of builds hosted here) runs on every node.
        this.jobLeases = new JobLeases(metadata, nodeName, config.cluster().jobLease(), metrics);
        encryption.start(jobLeases);
        this.background = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().name("builderd-jobs").daemon().factory());
        long interval = config.leaseCheckInterval().toMillis();
        background.scheduleWithFixedDelay(() -> jobLeases.runIfHeld(JobLeases.Job.BUILD_LEASE_REAPER, this::reapLeases), interval,
                interval, TimeUnit.MILLISECONDS);
        long reconcile = config.quotas().reconcileInterval().toMillis();
        // The first round runs soon after start-up, in the background: serving never waits for a rescan.
        background.scheduleWithFixedDelay(() -> jobLeases.runIfHeld(JobLeases.Job.QUOTA_RECONCILIATION, () -> reconcileQuotas(quotaMetrics)),
                0, reconcile, TimeUnit.MILLISECONDS);
        background.scheduleWithFixedDelay(this::maintainCaches, 5_000, 5_000, TimeUnit.MILLISECONDS);
        long check = config.quotas().checkInterval().toMillis();
        background.scheduleWithFixedDelay(this::scanBuildDirectories, check, check, TimeUnit.MILLISECONDS);
        // Like reconciliation, the first run starts right away in the background; serving never waits for it.
        background.scheduleWithFixedDelay(this::janitorRound, 0, config.janitor().interval().toMillis(), TimeUnit.MILLISECONDS);
        replication.ifPresent(r -> r.start(() -> jobLeases.holds(JobLeases.Job.REPLICATION_REPAIR)));
        // Once per start, in the background: a tree changed while the daemon was down shows in the health report.
        background.execute(this::verifyTenantTrees);
    }

    private void verifyTenantTrees() {
        try {
            metadata.read(TenantRows::all).forEach(tenant -> isolation.verify(tenant.id()));
        } catch (RuntimeException e) {
            LOG.error("checking the tenants' directory protection failed: {}", e.getMessage(), e);
        }
    }

    /**
     * On the node holding the janitor's lease, the whole janitor; on every other node, the sweep
     * of what only it sees (its directories and temporary files).
     */
    void janitorRound() {
        if (!jobLeases.runIfHeld(JobLeases.Job.JANITOR, this::runJanitor)) {
            try {
                orphans.sweepLocal();
            } catch (RuntimeException e) {
                LOG.error("the orphan sweep of this node's directories failed: {}", e.getMessage(), e);
            }
        }
    }

    /** The lifecycle janitor: the retention policies, then the orphan sweep (each records what it deleted). */
    private void runJanitor() {
        try {
            retention.runAll();
        } catch (RuntimeException e) {
            LOG.error("the retention janitor failed: {}", e.getMessage(), e);
        }
        try {
            orphans.sweepAll();
        } catch (RuntimeException e) {
            LOG.error("the orphan sweep failed: {}", e.getMessage(), e);
        }
    }

    /** This node's name, stable across restarts: the host and the data root. */
    private static String nodeName(Layout layout) {
        String host;
        try {
            host = java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.net.UnknownHostException e) {
            host = "localhost";
        }
        String name = host + ":" + layout.dataRoot();
        return name.length() <= 64 ? name : name.substring(0, 24) + ":" + Integer.toHexString(name.hashCode()) + "…"
                + name.substring(name.length() - 30);
    }

    private void reconcileQuotas(QuotaMetrics quotaMetrics) {
        try {
            quotas.sweep(false);
            caches.reconcileIndex();
            // Before the ledger: the artifact rows it sums must first match what is stored.
            artifactRepair.repairAll();
            reconciliation.reconcileAll().forEach(quotaMetrics::drifted);
        } catch (RuntimeException e) {
            LOG.error("quota reconciliation failed: {}", e.getMessage(), e);
        }
    }

    /** The quota's cleanup for throttled writes: the tenant's cache, by its eviction policy. */
    private long freeCache(dev.builderd.storage.core.model.TenantId tenant, long bytes) {
        return caches.free(tenant, bytes);
    }

    /**
     * Writes the cache access times batched in this node's memory (every node), and expires
     * entries past their maximum retention (the holder of the cache expiry lease).
     */
    private void maintainCaches() {
        try {
            caches.flushAccessTimes();
            int expired = jobLeases.holds(JobLeases.Job.CACHE_EXPIRY) ? caches.expire() : 0;
            if (expired > 0) {
                LOG.info("expired {} cache entr{} past the maximum retention", expired, expired == 1 ? "y" : "ies");
            }
        } catch (RuntimeException e) {
            LOG.error("cache maintenance failed: {}", e.getMessage(), e);
        }
    }

    /**
     * Measures active builds' directories now (also done every check interval in the background),
     * after cleaning the directories of builds hosted here that were finished through another node.
     */
    public void scanBuildDirectories() {
        try {
            int cleaned = builds.cleanFinishedHostedHere();
            if (cleaned > 0) {
                LOG.info("cleaned the workspace and temp of {} build(s) hosted here and finished through another node", cleaned);
            }
            scan.scanAll();
        } catch (IOException | RuntimeException e) {
            LOG.error("measuring build directories failed: {}", e.getMessage(), e);
        }
    }

    private void reapLeases() {
        try {
            int reaped = builds.reapExpiredLeases();
            if (reaped > 0) {
                LOG.info("failed {} build(s) whose lease expired", reaped);
            }
        } catch (RuntimeException e) {
            LOG.error("checking build leases failed: {}", e.getMessage(), e);
        }
    }

    public Tokens tokens() {
        return tokens;
    }

    /** How tenants' directory trees are protected, and what the last checks found. */
    public TenantIsolation isolation() {
        return isolation;
    }

    public TenantService tenants() {
        return tenants;
    }

    public BuildService builds() {
        return builds;
    }

    public ArtifactService artifacts() {
        return artifacts;
    }

    public LogService logs() {
        return logs;
    }

    public TenantEncryption encryption() {
        return encryption;
    }

    public Quotas quotas() {
        return quotas;
    }

    public RetentionJanitor retention() {
        return retention;
    }

    /** The orphan sweep, for tests that run it at a moment of their choosing. */
    OrphanSweep orphans() {
        return orphans;
    }

    public CacheService caches() {
        return caches;
    }

    public CacheWarming cacheWarming() {
        return warming;
    }

    public IntegrityScrub scrub() {
        return scrub;
    }

    /**
     * From now on scrubs every blob every {@code interval} (0: never), the first pass an hour
     * from now so that start-up is not slowed, reading at most {@code bytesPerSecond}.
     */
    public void scheduleScrub(Duration interval, long bytesPerSecond) {
        scrub.schedule(background, Duration.ofHours(1), interval, bytesPerSecond, () -> jobLeases.holds(JobLeases.Job.INTEGRITY_SCRUB));
    }

    /**
     * Backs tenants up into {@code target} from now on ({@link BackupService}); call once. Content
     * in flight is spooled under the data root's {@code global/system-temp/backup-spool/}.
     *
     * @param retention what a prune keeps unless it is told otherwise
     */
    public synchronized BackupService enableBackups(BlobStore target, BackupService.Retention retention) throws IOException {
        if (backups != null) {
            throw new IllegalStateException("backups are enabled already");
        }
        BackupTarget backupTarget = new BackupTarget(target, config.layout().dataRoot().resolve("global").resolve("system-temp")
                .resolve("backup-spool"));
        Stores raw = stores.map(store -> store instanceof TieredBlobStore tiered ? tiered.remote() : store);
        this.backups = new BackupService(metadata, backupTarget, raw, encrypted, config.layout(), tenants, builds, artifacts,
                encryption, quotas, reconciliation, policies, nodeName, retention, clock, metrics);
        scrub.repairFromBackups(backups::newestSnapshot);
        return backups;
    }

    /** The backups, once {@link #enableBackups} was called. */
    public Optional<BackupService> backups() {
        return Optional.ofNullable(backups);
    }

    /**
     * The replication of the stores that replicate ({@link dev.builderd.storage.blob.ReplicatingBlobStore},
     * composed by the caller over {@link ReplicationQueue}); empty when none does.
     */
    public Optional<Replication> replication() {
        return replication;
    }

    /** Which cluster-wide background jobs this node runs now ({@link JobLeases}). */
    public JobLeases jobLeases() {
        return jobLeases;
    }

    /**
     * Records where this node's API is reached, so that other nodes can send requests for the
     * builds it hosts here ({@link BuildService#paths}); the daemon calls it once it listens.
     */
    public void advertise(String url) {
        metadata.inTransaction(h -> {
            dev.builderd.storage.core.metadata.NodeRows.advertise(h, nodeName, url, clock.millis());
            return null;
        });
        LOG.info("node {} is reached at {}", nodeName, url);
    }

    /** This node's name: the host and the data root, stable across restarts; builds and leases record it. */
    public String nodeName() {
        return nodeName;
    }

    /** This instance's metrics (its own registry, not a global one). */
    public PrometheusRegistry metrics() {
        return metrics;
    }

    @Override
    public void close() {
        background.shutdownNow();
        try {
            // A job round still running when the leases are released could overlap its successor's on another node.
            if (!background.awaitTermination(5, TimeUnit.SECONDS)) {
                LOG.warn("a background job did not stop within 5 s; releasing its lease anyway");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        jobLeases.close();
        backups().ifPresent(BackupService::close);
        replication.ifPresent(Replication::close);
        warming.close();
        cacheCoherence.ifPresent(CacheCoherence::close);
        activity.close();
        caches.flushAccessTimes();
        encryption.close();
        directoryUsage.close();
    }
}
