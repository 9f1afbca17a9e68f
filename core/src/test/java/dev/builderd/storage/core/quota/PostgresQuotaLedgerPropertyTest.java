package dev.builderd.storage.core.quota;

import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.testing.PostgresServer;

/** The ledger's properties on a real PostgreSQL server, where the tenant's row lock serializes writers. */
class PostgresQuotaLedgerPropertyTest extends QuotaLedgerPropertyTest {

    @Override
    MetadataLocation location() {
        return MetadataLocation.parse(PostgresServer.shared().newDatabase().url());
    }
}
