package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.EncryptingBlobStore;
import dev.builderd.storage.core.crypto.EncryptionConfig;
import dev.builderd.storage.core.crypto.KeysUnavailableException;
import dev.builderd.storage.core.crypto.MasterKey;
import dev.builderd.storage.core.crypto.MasterKeyFile;
import dev.builderd.storage.core.crypto.TenantKeys;
import dev.builderd.storage.core.error.ConflictException;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.NodeRows;
import dev.builderd.storage.core.metadata.ReencryptionRows;
import dev.builderd.storage.core.metadata.ReencryptionRows.Job;
import dev.builderd.storage.core.metadata.TenantRows;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.TenantInfo;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Encryption at rest of tenant data: the tenants' keys, the stores that encrypt with them, key
 * rotation (tenant and master), and the background job that brings a tenant's existing blobs to
 * its primary key, resumably, without making anything unreadable on the way.
 *
 * <p>The job walks the tenant's blobs in key order in every store and rewrites each one that is
 * plaintext or under an older key. A blob of a build is rewritten under the build's lock and only
 * while no upload to that build is in flight (otherwise it is retried later), so no write is ever
 * overwritten by an older version. Its progress is saved as it goes; after a restart it continues
 * where it stopped. Only a walk that reached every blob lets the tenant's keys stop accepting
 * plaintext and drops retired keys.
 */
public final class TenantEncryption implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(TenantEncryption.class);
    private static final Duration SAVE_EVERY = Duration.ofSeconds(1);
    private static final Duration BUSY_BUILD_RETRY = Duration.ofSeconds(5);
    /** How often the holder of the re-encryption lease looks for jobs started on any node. */
    static final Duration JOB_POLL = Duration.ofSeconds(2);

    /** A tenant's encryption as its status shows it. */
    public record Status(boolean enabled, Optional<TenantKeys.KeyStatus> keys, Optional<String> unavailable,
            Optional<Job> reencryption, Optional<Instant> nextRotation) {
    }

    /** The outcome of a master key rotation. */
    public record MasterRotation(String origin, int tenantKeysets, List<TenantId> notRewrapped, boolean olderKeysRemoved) {
    }

    private enum Outcome { UNCHANGED, REWRITTEN, DEFERRED }

    private final TenantKeys keys;
    private final Map<BlobStore, EncryptingBlobStore> encrypting = new IdentityHashMap<>();
    private final List<EncryptingBlobStore> walked;
    private final Counter integrityFailures;
    private final Stores stores;
    private final MetadataStore metadata;
    private final Layout layout;
    private final BuildActivity activity;
    private final Duration rotationInterval;
    private final Clock clock;
    private final ScheduledExecutorService worker =
            Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().name("builderd-reencryption").daemon().factory());
    private final Set<TenantId> queued = ConcurrentHashMap.newKeySet();
    private volatile boolean closing;
    /** Whether this node may walk re-encryption jobs now (it holds their lease); none before {@link #start}. */
    private volatile java.util.function.BooleanSupplier mayWalk = () -> false;
    /** This node's name (from {@link #start}): the other nodes are those a master key rotation must not leave behind. */
    private volatile String node = "";
    private volatile BackupTarget backupKeysets;
    /** A master key rotation interrupted by a crash, left to finish once the backups' keysets can be rewrapped. */
    private volatile MasterKey.Rotatable interruptedRotation;

    /**
     * Loads the master key and every tenant's keys, and wraps {@code plain} so that each tenant
     * with keys is encrypted.
     *
     * @throws IllegalStateException with a message for the operator when the master key is
     *     missing, damaged or not the one that wrapped the tenant keysets
     */
    TenantEncryption(EncryptionConfig config, Layout layout, MetadataStore metadata, Stores plain, BuildActivity activity,
            PrometheusRegistry registry, Clock clock) throws IOException {
        this.metadata = metadata;
        this.layout = layout;
        this.activity = activity;
        this.clock = clock;
        this.rotationInterval = config.keyRotationInterval();
        Set<TenantId> encrypted = metadata.read(TenantRows::all).stream()
                .filter(TenantInfo::encryption).map(TenantInfo::id).collect(Collectors.toSet());
        MasterKey master = switch (config.master()) {
            case EncryptionConfig.MasterKeyOrigin.Given given -> given.key();
            case EncryptionConfig.MasterKeyOrigin.KeyFile file -> {
                boolean keysetsExist = TenantKeys.exist(layout.encryptionKeyDirectory(), metadata);
                if (!keysetsExist && !encrypted.isEmpty() && !java.nio.file.Files.exists(file.path())) {
                    throw new IllegalStateException(encrypted.size() + " tenant(s) are encrypted but neither the master key "
                            + file.path() + " nor their keysets (table tenant_keysets) exist; restore them from a backup."
                            + " builderd never creates a new master key over encrypted data.");
                }
                yield MasterKeyFile.openOrCreate(file.path(), !keysetsExist && encrypted.isEmpty());
            }
        };
        this.keys = TenantKeys.load(layout.encryptionKeyDirectory(), master, metadata, clock);
        this.integrityFailures = Counter.builder().name("builderd_storage_integrity_failures")
                .help("Reads of tenant data that failed authentication (damaged, truncated, moved or foreign ciphertext)")
                .labelNames("tenant_id").register(registry);
        for (BlobStore store : List.of(plain.artifacts(), plain.logs(), plain.caches())) {
            encrypting.computeIfAbsent(store, this::encryptingView);
        }
        // Walked once per backend: through the tiered store where there is one, so its tiers follow the rewrites.
        this.walked = plain.distinct().stream().map(encrypting::get).toList();
        this.stores = new Stores(encrypting.get(plain.artifacts()), encrypting.get(plain.logs()), encrypting.get(plain.caches()));
        if (master instanceof MasterKey.Rotatable rotatable && rotatable.keyCount() > 1) {
            if (metadata.read(h -> dev.builderd.storage.core.metadata.BackupRows.lastFinished(h, "backup")).isPresent()) {
                // Backups hold keysets wrapped by the older master key, and their target is known only once
                // backups are enabled: the older key stays until then (archiveKeysetsIn finishes the rotation).
                LOG.info("the master key holds {} keys: rewrapping the tenants' keysets of an interrupted master key rotation;"
                        + " the older master key goes once the backups' keysets are rewrapped too", rotatable.keyCount());
                keys.rewrapAll();
                this.interruptedRotation = rotatable;
            } else {
                LOG.info("the master key holds {} keys: finishing an interrupted master key rotation", rotatable.keyCount());
                finishMasterRotation(rotatable);
            }
        }
    }

    /**
     * Another view of a store holding tenants' data, encrypting and decrypting as {@link #stores}
     * do: for work that must read a backend without the tiers in front of it.
     */
    public EncryptingBlobStore encryptingView(BlobStore store) {
        return new EncryptingBlobStore(store, keys, key -> integrityFailures.labelValues(layout.tenantOf(key).map(TenantId::value)
                .orElse("")).inc());
    }

    /** The stores, encrypting for every tenant with keys. */
    Stores stores() {
        return stores;
    }

    /**
     * Starts the background work: each {@link #JOB_POLL}, while this node holds the
     * re-encryption lease, it walks every running re-encryption job, whichever node started it
     * (so each job runs on one node, and a job whose node died resumes on the next holder from
     * its saved place); each hour, while it holds the key rotation lease, it rotates the keys
     * due (when automatic rotation is on).
     */
    void start(JobLeases leases) {
        this.mayWalk = () -> leases.holds(JobLeases.Job.REENCRYPTION);
        this.node = leases.node();
        for (TenantId tenant : keys.withPlaintext()) {
            if (job(tenant).filter(j -> j.state() == ReencryptionRows.State.RUNNING).isEmpty()) {
                startJob(tenant, Set.of());
            }
        }
        worker.scheduleWithFixedDelay(this::walkRunningJobs, 0, JOB_POLL.toMillis(), TimeUnit.MILLISECONDS);
        if (!rotationInterval.isZero()) {
            long hour = Duration.ofHours(1).toMillis();
            worker.scheduleWithFixedDelay(() -> {
                if (leases.holds(JobLeases.Job.KEY_ROTATION)) {
                    rotateDueKeys();
                }
            }, 0, hour, TimeUnit.MILLISECONDS);
        }
    }

    private void walkRunningJobs() {
        try {
            if (mayWalk.getAsBoolean()) {
                for (Job job : metadata.read(ReencryptionRows::running)) {
                    schedule(job.tenant(), Duration.ZERO);
                }
            }
        } catch (RuntimeException e) {
            LOG.warn("looking for re-encryption jobs to run failed (tried again in {} s): {}", JOB_POLL.toSeconds(), e.getMessage());
        }
    }

    // ---------------------------------------------------------------- the tenant's lifecycle

    /** Whether the tenant has keys (or had them: unavailable keys count). */
    boolean hasKeys(TenantId tenant) {
        try {
            return keys.forTenant(tenant).isPresent();
        } catch (IOException unavailable) {
            return true;
        }
    }

    /**
     * Gives the tenant keys before it is marked encrypted; with {@code hasData}, its existing
     * blobs stay readable as plaintext and a job encrypts them.
     */
    void enable(TenantId tenant, boolean hasData) {
        try {
            keys.create(tenant, hasData);
        } catch (IOException e) {
            throw IoErrors.translate(e, "creating the encryption keys of tenant " + tenant);
        }
    }

    /** Starts the job that encrypts the plaintext blobs of a tenant that just turned encryption on. */
    void encryptExistingData(TenantId tenant) {
        startJob(tenant, Set.of());
    }

    /**
     * Crypto-shredding: the tenant's keyset is destroyed before its data is deleted, first the copy
     * archived with its backups (so that a purge that fails there can be repeated, and never leaves
     * backups readable after the live keys are gone), then its own.
     */
    void shred(TenantId tenant) {
        try {
            BackupTarget archive = backupKeysets;
            if (archive != null && archive.deleteKeyset(tenant)) {
                LOG.info("tenant {}: the keyset archived in the {} destroyed; its backups can no longer be read", tenant,
                        archive.describe());
            }
            keys.shred(tenant);
        } catch (IOException e) {
            throw IoErrors.translate(e, "destroying the keys of tenant " + tenant);
        }
    }

    // ---------------------------------------------------------------- backups

    /** From now on, a tenant's shredding also destroys the keyset archived in {@code target}. */
    void archiveKeysetsIn(BackupTarget target) {
        this.backupKeysets = target;
        MasterKey.Rotatable interrupted = interruptedRotation;
        if (interrupted != null) {
            interruptedRotation = null;
            try {
                finishMasterRotation(interrupted);
            } catch (IOException e) {
                LOG.error("finishing the interrupted master key rotation failed ({}); the older master key is kept", e.getMessage());
            }
        }
    }

    /**
     * Archives the tenant's keys in {@code target} for its backups: the keys already archived there
     * and the live ones, wrapped by the master key (rewritten only when a live key is missing there).
     */
    void archiveKeys(TenantId tenant, BackupTarget target) throws IOException {
        Optional<byte[]> merged = keys.archive(tenant, target.keyset(tenant));
        if (merged.isPresent()) {
            target.putKeyset(tenant, merged.get());
        }
    }

    /**
     * A view of {@code snapshot} (a store of a tenant's ciphertext, as backed up) that decrypts
     * with the keys archived in {@code target}.
     *
     * @throws dev.builderd.storage.core.crypto.KeysUnavailableException if no keyset is archived
     *     there (the tenant was purged: its backups were shredded with it) or it does not open
     */
    EncryptingBlobStore archivedView(BlobStore snapshot, TenantId tenant, BackupTarget target) throws IOException {
        byte[] keyFile = target.keyset(tenant).orElseThrow(() -> new dev.builderd.storage.core.crypto.KeysUnavailableException(
                tenant, "no keyset is archived in the " + target.describe() + " (a purge shreds it): its encrypted backups cannot be read"));
        Optional<dev.builderd.storage.blob.DataKeyring> ring = Optional.of(keys.openArchived(tenant, keyFile));
        return new EncryptingBlobStore(snapshot, key -> ring, key -> integrityFailures.labelValues(tenant.value()).inc());
    }

    /** Whether the tenant's keys were shredded by a purge that has not finished. */
    boolean isShredded(TenantId tenant) {
        return keys.isShredded(tenant);
    }

    /** The purge is done: the tenant ID may be used again. */
    void purged(TenantId tenant) {
        try {
            keys.forgetShredded(tenant);
        } catch (IOException e) {
            throw IoErrors.translate(e, "removing the key tombstone of tenant " + tenant);
        }
    }

    // ---------------------------------------------------------------- admin operations

    /**
     * Rotates the tenant's key: new blobs use a new primary key, older ones stay readable. With
     * {@code reencrypt}, a job then rewrites the older blobs and retires the older keys.
     */
    public Status rotate(Principal caller, TenantId tenant, boolean reencrypt) {
        caller.requireAdmin("rotating a tenant's encryption key");
        requireEncrypted(tenant);
        try {
            keys.rotate(tenant);
        } catch (IOException e) {
            throw IoErrors.translate(e, "rotating the key of tenant " + tenant);
        }
        if (reencrypt) {
            retireOlderKeys(tenant);
        }
        return status(caller, tenant);
    }

    /** Starts a job that rewrites the tenant's blobs under its primary key and then retires its older keys. */
    public Status reencrypt(Principal caller, TenantId tenant) {
        caller.requireAdmin("re-encrypting a tenant's data");
        requireEncrypted(tenant);
        retireOlderKeys(tenant);
        return status(caller, tenant);
    }

    private void retireOlderKeys(TenantId tenant) {
        try {
            startJob(tenant, keys.olderKeys(tenant));
        } catch (IOException e) {
            throw IoErrors.translate(e, "reading the keys of tenant " + tenant);
        }
    }

    private void requireEncrypted(TenantId tenant) {
        TenantInfo info = metadata.read(h -> TenantRows.find(h, tenant))
                .orElseThrow(() -> new dev.builderd.storage.core.error.NotFoundException("tenant '" + tenant + "' does not exist"));
        if (!info.encryption()) {
            throw new ConflictException("tenant " + tenant + " is not encrypted; turn encryption on first");
        }
    }

    /**
     * Rotates the master key: a file master gets a new primary key, every tenant keyset is
     * rewrapped with it (all rows in one transaction), then the older master keys are removed.
     * A crash at any point leaves every keyset readable; the next start finishes the rotation. A
     * master key given from outside is only used to rewrap (its owner rotates it).
     */
    public MasterRotation rotateMaster(Principal caller) {
        caller.requireAdmin("rotating the master key");
        MasterKey master = keys.master();
        try {
            if (master instanceof MasterKey.Rotatable rotatable) {
                List<String> others = metadata.read(h -> NodeRows.others(h, node));
                if (!others.isEmpty()) {
                    throw new ConflictException("the master key " + master.origin() + " is this node's own file, and nodes " + others
                            + " share the metadata store: rotating it here would leave them unable to open the rewrapped tenant"
                            + " keysets. Stop every node, give each the same master key file with a new primary key (and the old"
                            + " one), then start them (docs/encryption.md, \"Several nodes\"); delete the rows of nodes that are"
                            + " gone for good from the table nodes");
                }
                rotatable.addPrimaryKey();
                return finishMasterRotation(rotatable);
            }
            List<TenantId> skipped = keys.rewrapAll();
            return new MasterRotation(master.origin(), keysetCount(), skipped, false);
        } catch (IOException e) {
            throw IoErrors.translate(e, "rotating the master key");
        }
    }

    private MasterRotation finishMasterRotation(MasterKey.Rotatable master) throws IOException {
        List<TenantId> skipped = new ArrayList<>(keys.rewrapAll());
        skipped.addAll(rewrapArchivedKeysets());
        if (skipped.isEmpty()) {
            master.removeOlderKeys();
            LOG.info("master key rotated: {} tenant keyset(s) rewrapped", keysetCount());
        } else {
            LOG.error("master key rotation: the keysets of {} could not be rewrapped; the older master key is kept", skipped);
        }
        return new MasterRotation(master.origin(), keysetCount(), skipped, skipped.isEmpty());
    }

    /**
     * Rewraps the keysets archived in the backup target with the master key's primary, so that
     * backups stay readable once the older master key is gone; returns the tenants whose archive
     * could not be rewrapped (the older master key is then kept). Before backups are enabled (a
     * rotation resumed at start-up) there is nothing to reach: the next rotation rewraps them.
     */
    private List<TenantId> rewrapArchivedKeysets() throws IOException {
        BackupTarget archive = backupKeysets;
        if (archive == null) {
            return List.of();
        }
        List<TenantId> skipped = new ArrayList<>();
        for (TenantId tenant : archive.archivedKeysets()) {
            try {
                Optional<byte[]> keyFile = archive.keyset(tenant);
                if (keyFile.isPresent()) {
                    archive.putKeyset(tenant, keys.rewrapArchived(tenant, keyFile.get()));
                }
            } catch (IOException e) {
                LOG.error("master key rotation: the keyset of tenant {} archived in the {} could not be rewrapped: {}", tenant,
                        archive.describe(), e.getMessage());
                skipped.add(tenant);
            }
        }
        return skipped;
    }

    private int keysetCount() {
        return (int) metadata.read(TenantRows::all).stream().filter(t -> hasKeys(t.id())).count();
    }

    /** The tenant's encryption: keys, the latest re-encryption job, the next automatic rotation. */
    public Status status(Principal caller, TenantId tenant) {
        caller.requireRead(tenant);
        Optional<Job> job = job(tenant);
        try {
            Optional<TenantKeys.KeyStatus> status = keys.status(tenant);
            Optional<Instant> next = status.filter(s -> !rotationInterval.isZero()).map(s -> s.primarySince().plus(rotationInterval));
            return new Status(status.isPresent(), status, Optional.empty(), job, next);
        } catch (KeysUnavailableException e) {
            return new Status(true, Optional.empty(), Optional.of(e.getMessage()), job, Optional.empty());
        }
    }

    /** Tenants whose keys are unavailable, with the reason (for health). */
    public Map<TenantId, String> unavailableKeys() {
        return keys.unavailable();
    }

    private Optional<Job> job(TenantId tenant) {
        return metadata.read(h -> ReencryptionRows.find(h, tenant));
    }

    private void rotateDueKeys() {
        for (TenantId tenant : keys.dueForRotation(rotationInterval)) {
            try {
                keys.rotate(tenant);
            } catch (IOException | RuntimeException e) {
                LOG.error("automatic key rotation of tenant {} failed: {}", tenant, e.getMessage());
            }
        }
    }

    // ---------------------------------------------------------------- the re-encryption job

    private void startJob(TenantId tenant, Set<Integer> retire) {
        long total = 0;
        try {
            for (EncryptingBlobStore store : walked) {
                Iterator<BlobInfo> blobs = store.list(layout.tenantKeyPrefix(tenant), null);
                while (blobs.hasNext()) {
                    blobs.next();
                    total++;
                }
            }
        } catch (IOException e) {
            throw IoErrors.translate(e, "counting the blobs of tenant " + tenant);
        } catch (UncheckedIOException e) {
            throw IoErrors.translate(e.getCause(), "counting the blobs of tenant " + tenant);
        }
        Set<Integer> toRetire = new java.util.HashSet<>(retire);
        job(tenant).filter(j -> j.state() == ReencryptionRows.State.RUNNING).ifPresent(j -> toRetire.addAll(j.retireKeys()));
        Job job = Job.start(tenant, toRetire, total, clock.instant());
        metadata.inTransaction(h -> {
            ReencryptionRows.save(h, job);
            return null;
        });
        LOG.info("tenant {}: re-encryption of {} blob(s) started", tenant, total);
        schedule(tenant, Duration.ZERO);
    }

    private void schedule(TenantId tenant, Duration delay) {
        if (closing || !queued.add(tenant)) {
            return;
        }
        worker.schedule(() -> {
            queued.remove(tenant);
            try {
                walk(tenant);
            } catch (RuntimeException e) {
                LOG.error("re-encryption of tenant {} stopped: {}", tenant, e.getMessage(), e);
            }
        }, delay.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void walk(TenantId tenant) {
        if (!mayWalk.getAsBoolean()) {
            return;
        }
        Optional<Job> found = job(tenant).filter(j -> j.state() == ReencryptionRows.State.RUNNING);
        if (found.isEmpty()) {
            return;
        }
        Job job = found.get();
        long done = job.blobsDone();
        long rewritten = job.blobsRewritten();
        long bytes = job.bytesRewritten();
        int deferred = 0;
        long lastSave = System.nanoTime();
        String prefix = layout.tenantKeyPrefix(tenant);
        for (int index = job.cursorStore(); index < walked.size(); index++) {
            EncryptingBlobStore store = walked.get(index);
            String after = index == job.cursorStore() ? job.cursorKey() : null;
            try {
                Iterator<BlobInfo> blobs = store.list(prefix, after == null ? null : BlobKey.of(after));
                while (blobs.hasNext()) {
                    // Stopping or no longer the holder: the next holder resumes from the saved place (each rewrite was saved).
                    if (closing || !mayWalk.getAsBoolean()) {
                        return;
                    }
                    BlobKey key = blobs.next().key();
                    long[] rewrittenBytes = {0};
                    Outcome outcome = rewrite(store, key, rewrittenBytes);
                    if (outcome == Outcome.DEFERRED) {
                        deferred++;
                    } else if (outcome == Outcome.REWRITTEN) {
                        rewritten++;
                        bytes += rewrittenBytes[0];
                    }
                    done++;
                    if (outcome == Outcome.REWRITTEN || System.nanoTime() - lastSave >= SAVE_EVERY.toNanos()) {
                        job = save(job.progressed(index, key.value(), done, rewritten, bytes, clock.instant()));
                        lastSave = System.nanoTime();
                    }
                }
            } catch (IOException | UncheckedIOException | dev.builderd.storage.core.error.StorageException e) {
                if (closing) {
                    return;
                }
                String message = e instanceof UncheckedIOException u ? u.getCause().getMessage() : e.getMessage();
                save(job.progressed(index, job.cursorKey(), done, rewritten, bytes, clock.instant())
                        .ended(ReencryptionRows.State.FAILED, Optional.of(message), clock.instant()));
                LOG.error("re-encryption of tenant {} failed: {}; nothing was made unreadable; start it again once fixed", tenant, message);
                return;
            }
            job = job.progressed(index + 1, null, done, rewritten, bytes, clock.instant());
        }
        if (deferred > 0) {
            save(job.restartedWalk(deferred, clock.instant()));
            LOG.info("tenant {}: {} blob(s) of builds with uploads in flight left for a later pass", tenant, deferred);
            schedule(tenant, BUSY_BUILD_RETRY);
            return;
        }
        try {
            keys.plaintextGone(tenant);
            keys.retire(tenant, job.retireKeys());
        } catch (IOException e) {
            save(job.ended(ReencryptionRows.State.FAILED, Optional.of(e.getMessage()), clock.instant()));
            return;
        }
        save(job.progressed(walked.size(), null, done, rewritten, bytes, clock.instant())
                .ended(ReencryptionRows.State.FINISHED, Optional.empty(), clock.instant()));
        LOG.info("tenant {}: re-encryption finished, {} of {} blob(s) rewritten ({} bytes)", tenant, rewritten, done, bytes);
    }

    /** Brings one blob to the primary key, under its build's lock when it belongs to a build with no upload in flight. */
    private Outcome rewrite(EncryptingBlobStore store, BlobKey key, long[] bytes) throws IOException {
        Optional<BuildRef> build = layout.buildOf(key);
        if (build.isEmpty()) {
            return rewriteNow(store, key, bytes);
        }
        try {
            return activity.underLock(build.get(), () -> {
                if (activity.hasUploads(build.get())) {
                    return Outcome.DEFERRED;
                }
                try {
                    return rewriteNow(store, key, bytes);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    private static Outcome rewriteNow(EncryptingBlobStore store, BlobKey key, long[] bytes) throws IOException {
        long n = store.reencrypt(key);
        if (n < 0) {
            return Outcome.UNCHANGED;
        }
        bytes[0] = n;
        return Outcome.REWRITTEN;
    }

    private Job save(Job job) {
        metadata.inTransaction(h -> {
            if (TenantRows.find(h, job.tenant()).isPresent()) {
                ReencryptionRows.save(h, job);
            }
            return null;
        });
        return job;
    }

    @Override
    public void close() {
        closing = true;
        worker.shutdownNow();
        try {
            worker.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
