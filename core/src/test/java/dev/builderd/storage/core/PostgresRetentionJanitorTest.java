package dev.builderd.storage.core;

import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.testing.PostgresServer;

/** {@link RetentionJanitorTest} on a real PostgreSQL server. */
class PostgresRetentionJanitorTest extends RetentionJanitorTest {

    @Override
    MetadataLocation metadataLocation() {
        return MetadataLocation.parse(PostgresServer.shared().newDatabase().url());
    }
}
