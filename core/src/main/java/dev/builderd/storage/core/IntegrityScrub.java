package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobNotFoundException;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.ReplicatingBlobStore;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.core.CacheService.CacheType;
import dev.builderd.storage.core.error.ConflictException;
import dev.builderd.storage.core.metadata.ArtifactRows;
import dev.builderd.storage.core.metadata.CacheRows;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.ScrubRows;
import dev.builderd.storage.core.metadata.TenantRows;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The integrity scrub: re-reads stored blobs at a bounded rate and checks each against the
 * SHA-256 recorded for it when it was written — every artifact (its row's digest), every docker
 * layer of a tenant's cache and of the global registry cache (its key is its digest). Reading an
 * encrypted blob also authenticates it, so damaged ciphertext is found the same way. A damaged
 * blob is a finding: kept in the metadata store until a later pass reads it whole again (or it is
 * deleted), shown in {@code /health/storage} and the metric {@code builderd_scrub_corrupt_blobs}, and
 * logged with {@code event=scrub_corrupt}. A blob deleted or replaced while it is read is no
 * finding.
 *
 * <p>A damaged blob is repaired from a copy: the replica's, where the blob's store replicates
 * ({@link ReplicatingBlobStore}), else the tenant's newest backup snapshot, where backups are
 * enabled ({@link #repairFromBackups}). The copy is read through the same decrypting view and
 * checked against the recorded SHA-256, and only if it matches are its stored bytes put back,
 * which are then checked again. A repaired blob is no finding; it is counted in the pass
 * ({@code repaired}), in {@code builderd_scrub_repaired_blobs}, and logged with
 * {@code event=scrub_repaired}. Otherwise the finding names what to restore.
 */
public final class IntegrityScrub {

    private static final Logger LOG = LoggerFactory.getLogger(IntegrityScrub.class);
    private static final int PAGE = 500;

    /** A pass as it stands: {@code state} is {@code idle}, {@code running}, {@code finished} or {@code failed}. */
    public record Status(String state, long blobsChecked, long bytesChecked, long corruptFound, long repaired, Optional<Instant> started,
            Optional<Instant> finished, Optional<String> error, List<ScrubRows.Finding> findings) {
    }

    /**
     * One blob to check: the backend it is stored in (no tiers in front), whose, and the digest it
     * must have.
     */
    private record Candidate(BlobStore backend, BlobKey key, Optional<TenantId> tenant, String sha256, Supplier<Boolean> stillExpected) {
    }

    /** The digest of what a store holds under a key, as clients read it, and the bytes read. */
    private record Digest(String sha256, long bytes) {
    }

    private final MetadataStore metadata;
    private final Stores stores;
    private final UnaryOperator<BlobStore> view;
    private final Layout layout;
    private final CacheService caches;
    private final Clock clock;
    private final AtomicBoolean running = new AtomicBoolean();
    private final AtomicReference<Status> last;
    private final Counter blobsChecked;
    private final Counter bytesChecked;
    private final Counter repairedBlobs;
    private volatile Function<TenantId, Optional<BlobStore>> backupCopies = tenant -> Optional.empty();
    private volatile long bytesPerSecond;

    /**
     * @param backends the stores without tiers in front
     * @param view the view of a backend as clients see it: encrypted blobs are decrypted and authenticated
     */
    IntegrityScrub(MetadataStore metadata, Stores backends, UnaryOperator<BlobStore> view, Layout layout, CacheService caches, Clock clock,
            PrometheusRegistry registry) {
        this.metadata = metadata;
        this.stores = backends;
        this.view = view;
        this.layout = layout;
        this.caches = caches;
        this.clock = clock;
        this.last = new AtomicReference<>(new Status("idle", 0, 0, 0, 0, Optional.empty(), Optional.empty(), Optional.empty(), List.of()));
        blobsChecked = Counter.builder().name("builderd_scrub_blobs_checked").help("Blobs the integrity scrub read and verified")
                .register(registry);
        bytesChecked = Counter.builder().name("builderd_scrub_bytes_checked").help("Bytes the integrity scrub read and verified")
                .register(registry);
        repairedBlobs = Counter.builder().name("builderd_scrub_repaired_blobs")
                .help("Damaged blobs the integrity scrub repaired from the replica or a backup").register(registry);
        GaugeWithCallback.builder().name("builderd_scrub_corrupt_blobs")
                .help("Blobs the integrity scrub found damaged and that have not read whole since, by tenant")
                .labelNames("tenant_id")
                .callback(callback -> {
                    var byTenant = new java.util.TreeMap<String, Integer>();
                    metadata.read(ScrubRows::all).forEach(finding -> byTenant.merge(finding.owner(), 1, Integer::sum));
                    // Every tenant has a value, 0 included, so that an alert on > 0 also resolves.
                    metadata.read(TenantRows::all).forEach(tenant -> byTenant.putIfAbsent(tenant.id().value(), 0));
                    byTenant.forEach((tenant, count) -> callback.call(count, tenant));
                })
                .register(registry);
        GaugeWithCallback.builder().name("builderd_scrub_last_pass_end_timestamp_seconds")
                .help("When the last integrity scrub pass ended (0: none since start)")
                .callback(callback -> callback.call(last.get().finished().map(at -> at.toEpochMilli() / 1000.0).orElse(0.0)))
                .register(registry);
    }

    /**
     * From now on a pass starts every {@code interval} (the first one {@code firstAfter} from
     * now), reading at most {@code bytesPerSecond} (0: as fast as the store answers), when
     * {@code mayRun} says so at that moment (the node holds the scrub's job lease).
     */
    public void schedule(ScheduledExecutorService background, Duration firstAfter, Duration interval, long bytesPerSecond,
            java.util.function.BooleanSupplier mayRun) {
        this.bytesPerSecond = bytesPerSecond;
        if (!interval.isZero()) {
            background.scheduleWithFixedDelay(() -> {
                if (mayRun.getAsBoolean()) {
                    runPassIfIdle();
                }
            }, firstAfter.toMillis(), interval.toMillis(), TimeUnit.MILLISECONDS);
        }
    }

    /** Starts a pass now in the background (admin only); 409 while one runs. */
    public Status start(Principal caller) {
        caller.requireAdmin("starting an integrity scrub");
        if (running.get()) {
            throw new ConflictException("an integrity scrub pass is running already; see its progress with GET /v1/admin/scrub");
        }
        Thread.ofVirtual().name("integrity-scrub").start(this::runPassIfIdle);
        return status(caller);
    }

    /** The current or last pass, with every finding (admin only: findings name tenants). */
    public Status status(Principal caller) {
        caller.requireAdmin("reading the integrity scrub");
        return withFindings(last.get());
    }

    /** The findings, for the health report. */
    public List<ScrubRows.Finding> findings() {
        return metadata.read(ScrubRows::all);
    }

    private Status withFindings(Status status) {
        return new Status(status.state(), status.blobsChecked(), status.bytesChecked(), status.corruptFound(), status.repaired(), status.started(),
                status.finished(), status.error(), findings());
    }

    /** Runs one whole pass in the calling thread unless one runs already; returns its outcome. */
    public Status runPassIfIdle() {
        if (!running.compareAndSet(false, true)) {
            return last.get();
        }
        Instant started = clock.instant();
        long[] totals = new long[4];
        last.set(new Status("running", 0, 0, 0, 0, Optional.of(started), Optional.empty(), Optional.empty(), List.of()));
        try {
            Iterator<Candidate> candidates = candidates();
            long paceStart = System.nanoTime();
            while (candidates.hasNext()) {
                Candidate candidate = candidates.next();
                totals[1] += check(candidate, totals);
                totals[0]++;
                pace(totals[1], paceStart);
                last.set(new Status("running", totals[0], totals[1], totals[2], totals[3], Optional.of(started), Optional.empty(), Optional.empty(),
                        List.of()));
            }
            forgetDeleted();
            last.set(new Status("finished", totals[0], totals[1], totals[2], totals[3], Optional.of(started), Optional.of(clock.instant()),
                    Optional.empty(), List.of()));
            LOG.info("integrity scrub pass finished: {} blobs, {} bytes read, {} damaged, {} repaired from a copy", totals[0], totals[1],
                    totals[2], totals[3]);
        } catch (RuntimeException | InterruptedException e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            LOG.error("integrity scrub pass failed after {} blobs: {}", totals[0], e.getMessage(), e);
            last.set(new Status("failed", totals[0], totals[1], totals[2], totals[3], Optional.of(started), Optional.of(clock.instant()),
                    Optional.of(String.valueOf(e.getMessage())), List.of()));
        } finally {
            running.set(false);
        }
        return withFindings(last.get());
    }

    /** Reads one blob whole and compares its digest, repairing it from a copy if it can; returns the bytes read. */
    private long check(Candidate candidate, long[] totals) {
        String problem;
        long read = 0;
        try {
            Digest digest = digest(view.apply(candidate.backend()), candidate.key());
            read = digest.bytes();
            problem = digest.sha256().equals(candidate.sha256()) ? null
                    : "its SHA-256 is " + digest.sha256() + ", not the " + candidate.sha256() + " recorded when it was written";
        } catch (BlobNotFoundException gone) {
            forget(candidate.key());
            return read;
        } catch (IOException | UncheckedIOException e) {
            problem = "reading it failed: " + e.getMessage();
        } finally {
            blobsChecked.inc();
            bytesChecked.inc(read);
        }
        if (problem == null) {
            forget(candidate.key());
        } else if (candidate.stillExpected().get()) {
            Optional<String> unrepaired = repair(candidate);
            if (unrepaired.isEmpty()) {
                totals[3]++;
                repairedBlobs.inc();
                forget(candidate.key());
                LOG.warn("event=scrub_repaired tenant={} key={}: {}", candidate.tenant().map(TenantId::value).orElse("_global"),
                        candidate.key(), problem);
                return read;
            }
            totals[2]++;
            ScrubRows.Finding finding = new ScrubRows.Finding(candidate.tenant(), candidate.key().value(),
                    problem + unrepaired.get(), clock.instant());
            metadata.inTransaction(h -> {
                ScrubRows.record(h, finding);
                return null;
            });
            LOG.error("event=scrub_corrupt tenant={} key={}: {}", finding.owner(), candidate.key(), finding.problem());
        }
        return read;
    }

    /**
     * Repairs a damaged blob from the first copy that reads whole: the replica's, where the blob's
     * store replicates, then the newest backup snapshot's, where backups are enabled. Empty when
     * the blob reads whole afterwards (and what it was restored from is logged), else why not
     * (to append to the finding; empty text where no copy exists).
     */
    private Optional<String> repair(Candidate candidate) {
        StringBuilder why = new StringBuilder();
        if (candidate.backend() instanceof ReplicatingBlobStore replicated && replicated.replicates(candidate.key())) {
            Optional<String> failed = repairFrom("the replica", replicated.secondary(), replicated.primary(), candidate);
            if (failed.isEmpty()) {
                return failed;
            }
            why.append(failed.get());
        }
        Optional<BlobStore> snapshot;
        try {
            snapshot = candidate.tenant().isEmpty() ? Optional.empty() : backupCopies.apply(candidate.tenant().get());
        } catch (RuntimeException e) {
            return Optional.of(why + "; reading the newest backup snapshot failed: " + e.getMessage());
        }
        if (snapshot.isPresent()) {
            Optional<String> failed = repairFrom("the newest backup snapshot", snapshot.get(), candidate.backend(), candidate);
            if (failed.isEmpty()) {
                return failed;
            }
            why.append(failed.get());
        }
        return Optional.of(why.toString());
    }

    /**
     * Puts {@code source}'s copy of a damaged blob back into {@code primary} if that copy reads
     * whole; empty when the primary reads whole afterwards, else why not.
     */
    private Optional<String> repairFrom(String sourceName, BlobStore source, BlobStore primary, Candidate candidate) {
        BlobKey key = candidate.key();
        try {
            String copy = digest(view.apply(source), key).sha256();
            if (!copy.equals(candidate.sha256())) {
                return Optional.of("; the copy in " + sourceName + " is damaged too (SHA-256 " + copy + ")");
            }
            // The bytes as stored (ciphertext for an encrypted tenant), not re-encrypted: the copy is verified whole.
            Optional<BlobInfo> stored = source.stat(key);
            if (stored.isEmpty()) {
                return Optional.of("; " + sourceName + " has no copy");
            }
            try (InputStream in = source.open(key, ByteRange.ALL)) {
                primary.put(key, in, stored.get().size(), WriteMode.OVERWRITE);
            }
            String repaired = digest(view.apply(primary), key).sha256();
            if (!repaired.equals(candidate.sha256())) {
                return Optional.of("; the copy in " + sourceName + " was put back but the blob still reads " + repaired);
            }
            LOG.warn("event=scrub_repaired tenant={} key={}: restored from {}", candidate.tenant().map(TenantId::value).orElse("_global"),
                    key, sourceName);
            return Optional.empty();
        } catch (BlobNotFoundException missing) {
            return Optional.of("; " + sourceName + " has no copy");
        } catch (IOException | UncheckedIOException e) {
            return Optional.of("; repairing it from " + sourceName + " failed: " + e.getMessage());
        }
    }

    /**
     * From now on, a damaged blob of a tenant that the replica cannot repair is repaired from
     * {@code copies} of the tenant: a read-only store of its newest backup snapshot, under the
     * blobs' own keys and as the backends hold them (empty when it has none).
     */
    void repairFromBackups(Function<TenantId, Optional<BlobStore>> copies) {
        this.backupCopies = copies;
    }

    /** Reads a blob whole through {@code store} and returns its SHA-256. */
    private static Digest digest(BlobStore store, BlobKey key) throws IOException {
        try (InputStream in = store.open(key, ByteRange.ALL)) {
            MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
            byte[] buffer = new byte[256 * 1024];
            long read = 0;
            for (int n; (n = in.read(buffer)) >= 0; ) {
                sha256.update(buffer, 0, n);
                read += n;
            }
            return new Digest(HexFormat.of().formatHex(sha256.digest()), read);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every JDK", e);
        }
    }

    private void forget(BlobKey key) {
        metadata.inTransaction(h -> {
            ScrubRows.forget(h, key.value());
            return null;
        });
    }

    /** Drops the findings of blobs that are gone from every store (deleted since they were found). */
    private void forgetDeleted() {
        for (ScrubRows.Finding finding : findings()) {
            BlobKey key = BlobKey.of(finding.blobKey());
            boolean stored = stores.distinct().stream().anyMatch(store -> {
                try {
                    return store.stat(key).isPresent();
                } catch (IOException e) {
                    return true; // unknown: keep the finding
                }
            });
            if (!stored) {
                forget(key);
            }
        }
    }

    /** Sleeps as long as reading ran ahead of the rate. */
    private void pace(long bytesSoFar, long startNanos) throws InterruptedException {
        long rate = bytesPerSecond;
        if (rate <= 0) {
            return;
        }
        long dueNanos = startNanos + bytesSoFar * 1_000_000_000L / rate;
        long ahead = dueNanos - System.nanoTime();
        if (ahead > 0) {
            TimeUnit.NANOSECONDS.sleep(ahead);
        }
    }

    /** Every blob with a recorded digest: artifacts, then tenants' docker layers, then the global layers. */
    private Iterator<Candidate> candidates() {
        return java.util.stream.Stream.of(artifactCandidates(), layerCandidates(), globalCandidates())
                .flatMap(java.util.function.Function.identity()).iterator();
    }

    private java.util.stream.Stream<Candidate> artifactCandidates() {
        return IntegrityScrub.<ArtifactRows.Stored>paged(after -> metadata.read(h -> ArtifactRows.page(h, after, PAGE))).map(stored -> {
            var ref = stored.build();
            var name = stored.artifact().name();
            String sha256 = stored.artifact().sha256();
            return new Candidate(stores.artifacts(), layout.artifactKey(ref, name), Optional.of(ref.tenant()), sha256,
                    () -> metadata.read(h -> ArtifactRows.find(h, ref, name)).filter(row -> row.sha256().equals(sha256)).isPresent());
        });
    }

    private java.util.stream.Stream<Candidate> layerCandidates() {
        String type = CacheType.DOCKER_LAYERS.wireName();
        return metadata.read(TenantRows::all).stream().flatMap(tenant -> paged((String after) -> metadata.read(h ->
                        CacheRows.keys(h, tenant.id(), type, after == null ? "" : after, PAGE)))
                .map(digest -> new Candidate(stores.caches(), CacheService.tenantKey(tenant.id(), CacheType.DOCKER_LAYERS, digest),
                        Optional.of(tenant.id()), digest.substring("sha256:".length()),
                        () -> metadata.read(h -> CacheRows.find(h, tenant.id(), type, digest)).isPresent())));
    }

    private java.util.stream.Stream<Candidate> globalCandidates() {
        Iterator<BlobInfo> layers;
        try {
            layers = caches.globalLayers();
        } catch (IOException e) {
            throw new UncheckedIOException("listing the global registry cache failed", e);
        }
        return java.util.stream.StreamSupport.stream(java.util.Spliterators.spliteratorUnknownSize(layers, 0), false)
                .map(blob -> {
                    String key = blob.key().value();
                    return new Candidate(stores.caches(), blob.key(), Optional.empty(),
                            key.substring(key.lastIndexOf("sha256:") + "sha256:".length()), () -> true);
                });
    }

    /** The items of a walk fetched a page at a time, each page after the last item of the one before. */
    private static <T> java.util.stream.Stream<T> paged(java.util.function.Function<T, List<T>> pageAfter) {
        return java.util.stream.Stream.iterate(pageAfter.apply(null), page -> !page.isEmpty(),
                        page -> page.size() < PAGE ? List.of() : pageAfter.apply(page.getLast()))
                .flatMap(List::stream);
    }
}
