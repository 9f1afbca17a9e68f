package dev.builderd.storage.server;

import dev.builderd.storage.testing.PostgresServer;
import java.util.Optional;

/** The metadata stores every HTTP test runs on; the hook that names the store's URL. */
public enum MetadataKind {
    /** The embedded default: no URL, so the daemon opens {@code <data root>/metadata/builderd.db}. */
    SQLITE {
        @Override
        Optional<String> newMetadataUrl() {
            return Optional.empty();
        }
    },
    /** A fresh database on the real PostgreSQL server of the test fixtures. */
    POSTGRES {
        @Override
        Optional<String> newMetadataUrl() {
            return Optional.of(PostgresServer.shared().newDatabase().url());
        }
    };

    /** The value of {@code UNKEY_BUILDERD_METADATA_URL} for a new, empty store; empty for the default. */
    abstract Optional<String> newMetadataUrl();
}
