package dev.builderd.storage.server;

import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.core.BuilderdStorage;
import dev.builderd.storage.core.CoreConfig;
import dev.builderd.storage.core.Stores;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.server.config.DaemonConfig;
import dev.builderd.storage.server.http.HttpApi;
import io.javalin.Javalin;
import java.io.IOException;
import java.time.Clock;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon: composes metadata store, blob stores and core from a {@link DaemonConfig} (the one
 * place where stores are composed), serves the HTTP API, and stops cleanly.
 */
public final class Daemon implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Daemon.class);

    private final MetadataStore metadata;
    private final BuilderdStorage storage;
    private final Javalin http;

    private Daemon(MetadataStore metadata, BuilderdStorage storage, Javalin http) {
        this.metadata = metadata;
        this.storage = storage;
        this.http = http;
    }

    /** Opens everything and starts listening; returns once the API serves. */
    public static Daemon start(DaemonConfig config) throws IOException {
        long started = System.nanoTime();
        String adminToken = AdminToken.resolve(config);
        Stores stores = composeStores(config);
        MetadataStore metadata = MetadataStore.open(config.metadata());
        BuilderdStorage storage = null;
        try {
            CoreConfig core = new CoreConfig(config.layout(), config.buildLease(), config.maxBuildLease(),
                    config.leaseCheckInterval(), CoreConfig.defaults(config.layout()).sameNameUploadWait());
            storage = new BuilderdStorage(core, metadata, stores, adminToken, Clock.systemUTC());
            StorageHealth health = new StorageHealth(stores.distinct(), config.layout().tenantRoots(), Optional.empty(),
                    storage.tenants());
            HttpApi api = new HttpApi(storage, metadata, health);
            Javalin http = Javalin.create(javalin -> {
                javalin.startup.showJavalinBanner = false;
                javalin.concurrency.useVirtualThreads = true;
                javalin.jetty.host = config.bindAddress();
                javalin.jetty.port = config.port();
                javalin.requestLogger.http((ctx, millis) -> LOG.info("{} {} -> {} in {} ms", ctx.method(), ctx.path(),
                        ctx.status().getCode(), String.format("%.1f", millis)));
                api.register(javalin);
            }).start();
            sweepAbandonedUploadsInBackground(stores);
            LOG.info("Builderd Storage serves on {}:{} (data root {}, metadata {}), started in {} ms",
                    config.bindAddress(), http.port(), config.dataRoot(), config.metadata(),
                    (System.nanoTime() - started) / 1_000_000);
            return new Daemon(metadata, storage, http);
        } catch (RuntimeException | IOException e) {
            if (storage != null) {
                storage.close();
            }
            metadata.close();
            throw e;
        }
    }

    private static Stores composeStores(DaemonConfig config) throws IOException {
        return switch (config.backend()) {
            case FILESYSTEM -> {
                FileBlobStore artifacts = new FileBlobStore(config.layout().rootfsRoot());
                FileBlobStore logs = config.layout().rootfsRoot().equals(config.layout().dataRoot())
                        ? artifacts : new FileBlobStore(config.layout().dataRoot());
                yield new Stores(artifacts, logs);
            }
        };
    }

    private static void sweepAbandonedUploadsInBackground(Stores stores) {
        List<FileBlobStore> fileStores = stores.distinct().stream()
                .filter(FileBlobStore.class::isInstance).map(FileBlobStore.class::cast).toList();
        Thread.ofVirtual().name("sweep-abandoned-uploads").start(() -> {
            for (FileBlobStore store : fileStores) {
                try {
                    store.sweepAbandonedUploads();
                } catch (IOException | RuntimeException e) {
                    LOG.warn("could not sweep interrupted uploads under {}: {}", store.root(), e.getMessage());
                }
            }
        });
    }

    /** The port the API listens on. */
    public int port() {
        return http.port();
    }

    public BuilderdStorage storage() {
        return storage;
    }

    @Override
    public void close() {
        http.stop();
        storage.close();
        metadata.close();
    }
}
