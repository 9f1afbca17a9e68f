package dev.builderd.storage.core;

import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.testing.PostgresServer;

/** {@link EmbeddedStorageTest} on a real PostgreSQL server, where a pool of connections races. */
class PostgresEmbeddedStorageTest extends EmbeddedStorageTest {

    @Override
    MetadataLocation metadataLocation() {
        return MetadataLocation.parse(PostgresServer.shared().newDatabase().url());
    }
}
