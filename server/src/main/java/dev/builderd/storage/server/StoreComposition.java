package dev.builderd.storage.server;

import dev.builderd.storage.blob.AbandonedUploadCleanup;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.BlobStoreProbe;
import dev.builderd.storage.blob.CircuitBreakingBlobStore;
import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.blob.ReplicatingBlobStore;
import dev.builderd.storage.blob.ReplicationJournal;
import dev.builderd.storage.blob.TieredBlobStore;
import dev.builderd.storage.blob.azure.AzureBlobStore;
import dev.builderd.storage.blob.ceph.RadosBlobStore;
import dev.builderd.storage.blob.gcs.GcsBlobStore;
import dev.builderd.storage.blob.s3.S3BlobStore;
import dev.builderd.storage.core.ReplicationScope;
import dev.builderd.storage.core.Stores;
import dev.builderd.storage.server.config.BlobBackend;
import dev.builderd.storage.server.config.DaemonConfig;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one place where blob stores are built from configuration and stacked: each category gets
 * its backend's store, a remote store behind a {@link CircuitBreakingBlobStore}, and categories
 * that share a backend share one store (and its connections); the caches get a
 * {@link TieredBlobStore} in front of theirs. With a replica target, every category's backend
 * store replicates to one replica store ({@link ReplicatingBlobStore}, under the tiers). Closing
 * it closes the remote stores' clients and the tiers.
 */
final class StoreComposition implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(StoreComposition.class);

    private final Stores stores;
    private final List<AutoCloseable> clients;
    private final List<BlobStore> remotes;
    private final DaemonConfig.Breaker breaker;
    private final ScheduledExecutorService maintenance =
            Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().name("store-maintenance").daemon().factory());

    private StoreComposition(Stores stores, List<AutoCloseable> clients, List<BlobStore> remotes, DaemonConfig.Breaker breaker) {
        this.breaker = breaker;
        this.stores = stores;
        this.clients = clients;
        this.remotes = remotes;
    }

    /** The stores of {@code config} without replication: for tools that work on the primary backends themselves. */
    static StoreComposition compose(DaemonConfig config) throws IOException {
        return compose(config, Optional.empty());
    }

    /**
     * The stores of {@code config}; where it names a replica target and {@code journal} is given,
     * each category's backend store is a {@link ReplicatingBlobStore} over it and the one replica
     * store (below the encryption and the cache tiers, so the replica holds what the backend holds).
     */
    static StoreComposition compose(DaemonConfig config, Optional<ReplicationJournal> journal) throws IOException {
        Map<Object, BlobStore> built = new HashMap<>();
        List<AutoCloseable> clients = new ArrayList<>();
        try {
            Optional<BlobStore> replica = Optional.empty();
            if (journal.isPresent() && config.replication().target().isPresent()) {
                replica = Optional.of(backend(config.replication().target().get(), null, config.breaker(), clients));
            }
            replica.ifPresent(store -> LOG.info("replicating {} to the {} store {} (deletions after {} h)",
                    config.replication().caches() ? "artifacts, logs and caches" : "artifacts and logs", store.backendName(),
                    config.replication().target().get(), config.replication().schedule().deleteDelay().toHours()));
            Optional<BlobStore> secondary = replica;
            Function<BlobStore, BlobStore> replicated = secondary.isEmpty() ? Function.identity()
                    : primary -> new ReplicatingBlobStore(primary, secondary.get(), new ReplicationScope(config.replication().caches()),
                            journal.get());
            BlobStore artifacts = store(config.artifacts(), config.layout().rootfsRoot(), config, built, clients, replicated);
            BlobStore logs = store(config.logs(), config.layout().dataRoot(), config, built, clients, replicated);
            BlobStore caches = tiered(store(config.caches(), config.layout().cacheRoot(), config, built, clients, replicated), config,
                    clients);
            List<BlobStore> remotes = java.util.stream.Stream.concat(built.values().stream().map(Stores::primaryOf), replica.stream())
                    .filter(CircuitBreakingBlobStore.class::isInstance).distinct().toList();
            return new StoreComposition(new Stores(artifacts, logs, caches), clients, remotes, config.breaker());
        } catch (IOException | RuntimeException e) {
            new StoreComposition(null, clients, List.of(), config.breaker()).close();
            throw e;
        }
    }

    /** The store of one category: local files under {@code localRoot}, or the configured remote backend, then {@code replicated}. */
    private static BlobStore store(BlobBackend backend, Path localRoot, DaemonConfig config, Map<Object, BlobStore> built,
            List<AutoCloseable> clients, Function<BlobStore, BlobStore> replicated) throws IOException {
        Object identity = backend instanceof BlobBackend.Local ? localRoot : backend;
        BlobStore existing = built.get(identity);
        if (existing != null) {
            return existing;
        }
        BlobStore store = replicated.apply(backend(backend, localRoot, config.breaker(), clients));
        LOG.info("{} store: {}", backend.name(), backend instanceof BlobBackend.Local ? localRoot : backend);
        built.put(identity, store);
        return store;
    }

    /**
     * A store over one backend, whether a category's or a target's (the replica, a backup target):
     * {@link BlobBackend.Local} is files under {@code localRoot}, {@link BlobBackend.Directory} files
     * under its own directory, and a remote backend gets its client behind a
     * {@link CircuitBreakingBlobStore} (its client is added to {@code clients}, for the caller to close).
     *
     * @param localRoot the category's root for {@link BlobBackend.Local}; null for targets, which are never local
     * @throws IOException if a directory cannot be created
     */
    static BlobStore backend(BlobBackend backend, Path localRoot, DaemonConfig.Breaker breaker, List<AutoCloseable> clients)
            throws IOException {
        return switch (backend) {
                case BlobBackend.Local local -> new FileBlobStore(java.util.Objects.requireNonNull(localRoot, "a target cannot be Local"));
                case BlobBackend.Directory directory -> new FileBlobStore(directory.root());
                case BlobBackend.S3 s3 -> remote(new S3BlobStore(s3.settings()), breaker, clients);
                case BlobBackend.Azure azure -> remote(new AzureBlobStore(azure.settings()), breaker, clients);
                case BlobBackend.Ceph ceph -> remote(new RadosBlobStore(ceph.settings()), breaker, clients);
                case BlobBackend.Gcs gcs -> remote(GcsBlobStore.create(gcs.settings()), breaker, clients);
        };
    }

    /**
     * A store for a target backend (a backup target, say), closed with this composition: files
     * under a {@link BlobBackend.Directory}, or a remote backend behind a circuit breaker.
     */
    BlobStore target(BlobBackend backend) throws IOException {
        return backend(backend, null, breaker, clients);
    }

    /**
     * The caches' store with the configured tiers in front, above the circuit breaker (so a
     * tripped breaker still lets the faster tiers serve). A filesystem backend is its own disk
     * tier: only the memory tier goes in front of it.
     */
    private static BlobStore tiered(BlobStore backend, DaemonConfig config, List<AutoCloseable> clients) throws IOException {
        TieredBlobStore.Settings settings = config.caches() instanceof BlobBackend.Local
                ? config.cacheTiers().withoutDisk() : config.cacheTiers();
        if (!settings.hasTiers()) {
            return backend;
        }
        TieredBlobStore tiers = new TieredBlobStore(backend, settings);
        clients.add(tiers);
        LOG.info("cache tiers: memory {} MiB (entries up to {} KiB){}, then the {} backend within {} s", settings.memoryBytes() >> 20,
                settings.memoryMaxEntryBytes() >> 10, settings.diskDirectory().map(dir -> ", disk " + (settings.diskBytes() >> 20)
                        + " MiB under " + dir).orElse(""), backend.backendName(), settings.remoteTimeout().toSeconds());
        return tiers;
    }

    private static <S extends BlobStore & AutoCloseable> BlobStore remote(S store, DaemonConfig.Breaker breaker, List<AutoCloseable> clients) {
        clients.add(store);
        return new CircuitBreakingBlobStore(store, breaker.failures(), breaker.open(), Clock.systemUTC());
    }

    Stores stores() {
        return stores;
    }

    /**
     * Probes every remote store once, so that wrong credentials or a missing bucket show in the
     * log at start-up, naming the backend and the problem. A failure does not stop the daemon:
     * local work goes on, requests that need the backend fail with 503, and /health/storage shows it.
     */
    void probeRemoteStores(Duration deadline) {
        for (BlobStore remote : remotes) {
            BlobStoreProbe.Result probe = BlobStoreProbe.probe(remote, "global/health/", deadline);
            if (probe.ok()) {
                LOG.info("the {} backend answered its start-up probe in {} ms", remote.backendName(), probe.took().toMillis());
            } else {
                LOG.error("the {} backend failed its start-up probe: {}; requests that need it fail with 503 until it works",
                        remote.backendName(), probe.problem().orElse("unknown"));
            }
        }
    }

    /**
     * Every hour, from now on, aborts the unfinished uploads of remote stores that started more
     * than {@code age} ago: parts that a killed daemon or a dead backend left behind.
     */
    void startCleaningAbandonedUploads(Duration age) {
        List<AbandonedUploadCleanup> cleanable = remotes.stream()
                .map(store -> ((CircuitBreakingBlobStore) store).delegate())
                .filter(AbandonedUploadCleanup.class::isInstance).map(AbandonedUploadCleanup.class::cast).toList();
        if (cleanable.isEmpty()) {
            return;
        }
        maintenance.scheduleWithFixedDelay(() -> {
            for (AbandonedUploadCleanup store : cleanable) {
                try {
                    int aborted = store.abortUploadsStartedBefore(Instant.now().minus(age));
                    if (aborted > 0) {
                        LOG.info("aborted {} abandoned upload(s) older than {} h", aborted, age.toHours());
                    }
                } catch (IOException | RuntimeException e) {
                    LOG.warn("cleaning abandoned uploads failed: {}", e.getMessage());
                }
            }
        }, 0, 1, TimeUnit.HOURS);
    }

    @Override
    public void close() {
        maintenance.shutdownNow();
        for (AutoCloseable client : clients) {
            try {
                client.close();
            } catch (Exception e) {
                LOG.warn("closing a storage client failed: {}", e.getMessage());
            }
        }
    }
}
