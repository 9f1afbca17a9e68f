package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.blob.TieredBlobStore;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.testing.PostgresServer;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.util.Optional;
import java.util.function.BiFunction;
import java.util.function.UnaryOperator;

/**
 * Two nodes on one fresh database of the shared real PostgreSQL server: two {@link BuilderdStorage}
 * instances, each with its own data root (so its own node name) and its own pool of connections,
 * whose artifacts, logs and caches go to one store both reach (as an object store would be), the
 * caches through each node's own memory and disk tiers. Either node can be stopped (as if it died: nothing more
 * of it runs) and started again over the same data root.
 */
final class TwoNodes implements AutoCloseable {

    private final String url;
    private final Path[] roots;
    private final FileBlobStore shared;
    private final UnaryOperator<CoreConfig> config;
    private final Clock clock;
    private final BiFunction<Integer, BlobStore, BlobStore> view;
    private final MetadataStore[] metadata = new MetadataStore[2];
    private final BuilderdStorage[] nodes = new BuilderdStorage[2];
    private final TieredBlobStore[] tiers = new TieredBlobStore[2];

    /**
     * @param config changes to each node's default configuration
     * @param clock both nodes' clock
     * @param view how node 0 (A) or 1 (B) reaches the shared store (a test's wrapper around it)
     */
    TwoNodes(Path rootA, Path rootB, Path shared, UnaryOperator<CoreConfig> config, Clock clock,
            BiFunction<Integer, BlobStore, BlobStore> view) throws IOException {
        this.clock = clock;
        this.url = PostgresServer.shared().newDatabase().url();
        this.roots = new Path[] {rootA, rootB};
        this.shared = new FileBlobStore(shared);
        this.config = config;
        this.view = view;
        for (int i = 0; i < 2; i++) {
            metadata[i] = MetadataStore.open(MetadataLocation.parse(url));
            start(i);
        }
    }

    BuilderdStorage a() {
        return nodes[0];
    }

    BuilderdStorage b() {
        return nodes[1];
    }

    /** Node A's own connection pool, which outlives the node's stops. */
    MetadataStore metadataA() {
        return metadata[0];
    }

    MetadataStore metadataB() {
        return metadata[1];
    }

    /** Stops node A (a no-op if stopped). */
    void stopA() {
        stop(0);
    }

    void stopB() {
        stop(1);
    }

    /** Starts node A again over its data root: the same node name. */
    BuilderdStorage restartA() throws IOException {
        stop(0);
        return start(0);
    }

    /** Starts node B again over its data root: the same node name. */
    BuilderdStorage restartB() throws IOException {
        stop(1);
        return start(1);
    }

    private BuilderdStorage start(int i) throws IOException {
        Path root = roots[i];
        BlobStore reached = view.apply(i, shared);
        tiers[i] = new TieredBlobStore(reached, new TieredBlobStore.Settings(TieredBlobStore.Settings.DEFAULT_MEMORY_BYTES,
                TieredBlobStore.Settings.DEFAULT_MEMORY_MAX_ENTRY_BYTES, Optional.of(root.resolve("cache-tier")), 64L << 20,
                TieredBlobStore.Settings.DEFAULT_REMOTE_TIMEOUT));
        nodes[i] = new BuilderdStorage(config.apply(CoreConfig.defaults(Layout.under(root))), metadata[i],
                new Stores(reached, reached, tiers[i]), "admin-token-for-tests", clock);
        return nodes[i];
    }

    private void stop(int i) {
        if (nodes[i] != null) {
            nodes[i].close();
            nodes[i] = null;
            try {
                tiers[i].close();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }
    }

    @Override
    public void close() {
        stop(0);
        stop(1);
        metadata[0].close();
        metadata[1].close();
    }
}
