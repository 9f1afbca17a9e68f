package dev.builderd.storage.core;

import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.testing.PostgresServer;

/** {@link TokensTest} on a real PostgreSQL server, where every authentication reads the token's row. */
class PostgresTokensTest extends TokensTest {

    @Override
    MetadataLocation metadataLocation() {
        return MetadataLocation.parse(PostgresServer.shared().newDatabase().url());
    }
}
