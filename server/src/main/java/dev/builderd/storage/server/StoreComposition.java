package dev.builderd.storage.server;

import dev.builderd.storage.blob.AbandonedUploadCleanup;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.BlobStoreProbe;
import dev.builderd.storage.blob.CircuitBreakingBlobStore;
import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.blob.TieredBlobStore;
import dev.builderd.storage.blob.azure.AzureBlobStore;
import dev.builderd.storage.blob.ceph.RadosBlobStore;
import dev.builderd.storage.blob.gcs.GcsBlobStore;
import dev.builderd.storage.blob.s3.S3BlobStore;
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
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one place where blob stores are built from configuration and stacked: each category gets
 * its backend's store, a remote store behind a {@link CircuitBreakingBlobStore}, and categories
 * that share a backend share one store (and its connections); the caches get a
 * {@link TieredBlobStore} in front of theirs. Closing it closes the remote stores' clients and
 * the tiers.
 */
final class StoreComposition implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(StoreComposition.class);

    private final Stores stores;
    private final List<AutoCloseable> clients;
    private final List<BlobStore> remotes;
    private final ScheduledExecutorService maintenance =
            Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().name("store-maintenance").daemon().factory());

    private StoreComposition(Stores stores, List<AutoCloseable> clients, List<BlobStore> remotes) {
        this.stores = stores;
        this.clients = clients;
        this.remotes = remotes;
    }

    static StoreComposition compose(DaemonConfig config) throws IOException {
        Map<Object, BlobStore> built = new HashMap<>();
        List<AutoCloseable> clients = new ArrayList<>();
        try {
            BlobStore artifacts = store(config.artifacts(), config.layout().rootfsRoot(), config, built, clients);
            BlobStore logs = store(config.logs(), config.layout().dataRoot(), config, built, clients);
            BlobStore caches = tiered(store(config.caches(), config.layout().cacheRoot(), config, built, clients), config, clients);
            List<BlobStore> remotes = built.values().stream().filter(CircuitBreakingBlobStore.class::isInstance).toList();
            return new StoreComposition(new Stores(artifacts, logs, caches), clients, remotes);
        } catch (IOException | RuntimeException e) {
            new StoreComposition(null, clients, List.of()).close();
            throw e;
        }
    }

    /** The store of one category: local files under {@code localRoot}, or the configured remote backend. */
    private static BlobStore store(BlobBackend backend, Path localRoot, DaemonConfig config, Map<Object, BlobStore> built,
            List<AutoCloseable> clients) throws IOException {
        Object identity = backend instanceof BlobBackend.Local ? localRoot : backend;
        BlobStore existing = built.get(identity);
        if (existing != null) {
            return existing;
        }
        BlobStore store = switch (backend) {
            case BlobBackend.Local local -> new FileBlobStore(localRoot);
            case BlobBackend.S3 s3 -> remote(new S3BlobStore(s3.settings()), config, clients);
            case BlobBackend.Azure azure -> remote(new AzureBlobStore(azure.settings()), config, clients);
            case BlobBackend.Ceph ceph -> remote(new RadosBlobStore(ceph.settings()), config, clients);
            case BlobBackend.Gcs gcs -> remote(GcsBlobStore.create(gcs.settings()), config, clients);
        };
        LOG.info("{} store: {}", backend.name(), backend instanceof BlobBackend.Local ? localRoot : backend);
        built.put(identity, store);
        return store;
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

    private static <S extends BlobStore & AutoCloseable> BlobStore remote(S store, DaemonConfig config, List<AutoCloseable> clients) {
        clients.add(store);
        return new CircuitBreakingBlobStore(store, config.breaker().failures(), config.breaker().open(), Clock.systemUTC());
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
