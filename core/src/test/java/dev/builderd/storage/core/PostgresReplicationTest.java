package dev.builderd.storage.core;

import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.testing.PostgresServer;

/** {@link ReplicationTest} with the queue in a real PostgreSQL server. */
class PostgresReplicationTest extends ReplicationTest {

    @Override
    MetadataLocation metadataLocation() {
        return MetadataLocation.parse(PostgresServer.shared().newDatabase().url());
    }
}
