package dev.builderd.storage.core;

import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.testing.MovableClock;
import java.io.IOException;
import java.nio.file.Path;

/** An embedded storage on SQLite and the filesystem under {@code dataRoot}, opened once for a whole fuzz test class. */
record FuzzedStorage(MetadataStore metadata, BuilderdStorage storage) implements AutoCloseable {

    static FuzzedStorage open(Path dataRoot, String adminToken) throws IOException {
        MetadataStore metadata = MetadataStore.open(MetadataLocation.sqlite(dataRoot.resolve("metadata/builderd.db")));
        return new FuzzedStorage(metadata, new BuilderdStorage(CoreConfig.defaults(Layout.under(dataRoot)), metadata,
                Stores.single(new FileBlobStore(dataRoot)), adminToken, new MovableClock()));
    }

    @Override
    public void close() {
        storage.close();
        metadata.close();
    }
}
