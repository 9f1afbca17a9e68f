package dev.builderd.storage.server.config;

import dev.builderd.storage.core.Layout;
import dev.builderd.storage.core.metadata.MetadataLocation;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * The daemon's whole configuration, parsed once from the environment by {@link ConfigParser}.
 *
 * @param adminToken empty when it is to be read from, or generated into, {@code config/admin.token}
 */
public record DaemonConfig(
        String bindAddress,
        int port,
        Backend backend,
        Layout layout,
        Optional<Secret> adminToken,
        MetadataLocation metadata,
        Duration buildLease,
        Duration maxBuildLease,
        Duration leaseCheckInterval) {

    /** Where durable data (artifacts, logs) lives. */
    public enum Backend { FILESYSTEM }

    /** A secret value that never shows in {@code toString()}. */
    public record Secret(String value) {
        @Override
        public String toString() {
            return "****";
        }
    }

    public Path dataRoot() {
        return layout.dataRoot();
    }
}
