package dev.builderd.storage.blob;

import java.nio.file.Path;
import java.util.Optional;

/**
 * TLS towards a storage backend: a CA bundle to trust (PEM; instead of, not besides, the
 * platform's trust store when given) and a client certificate and key (PEM) to present.
 */
public record StorageTls(Optional<Path> caFile, Optional<Path> certFile, Optional<Path> keyFile) {

    public StorageTls {
        if (certFile.isPresent() != keyFile.isPresent()) {
            throw new IllegalArgumentException("a client certificate needs both its certificate file and its key file");
        }
    }

    /** The platform's defaults: trust its CAs, present no client certificate. */
    public static StorageTls platformDefaults() {
        return new StorageTls(Optional.empty(), Optional.empty(), Optional.empty());
    }
}
