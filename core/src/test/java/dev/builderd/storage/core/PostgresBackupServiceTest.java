package dev.builderd.storage.core;

import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.testing.PostgresServer;

/** {@link BackupServiceTest} on a real PostgreSQL server: its one-running-job index and its consistent reads. */
class PostgresBackupServiceTest extends BackupServiceTest {

    @Override
    MetadataLocation metadataLocation() {
        return MetadataLocation.parse(PostgresServer.shared().newDatabase().url());
    }
}
