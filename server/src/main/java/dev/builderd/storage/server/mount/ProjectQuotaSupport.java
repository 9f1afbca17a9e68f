package dev.builderd.storage.server.mount;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;

/**
 * Whether the filesystem under a directory is mounted with project quotas (XFS {@code prjquota}
 * or {@code pquota}, ext4 {@code prjquota}), which could back builderd's own accounting with a
 * limit the kernel enforces. Detected and reported only: builderd does not set project quotas
 * (see docs/quotas.md); its ledger and scanner hold the limits.
 *
 * @param available whether the mount has project quotas on
 * @param mountPoint the mount that holds the directory ("" if unknown)
 * @param filesystem its type
 */
public record ProjectQuotaSupport(boolean available, String mountPoint, String filesystem) {

    private static final Set<String> OPTIONS = Set.of("prjquota", "pquota", "pqnoenforce", "prjjquota");

    public static ProjectQuotaSupport of(MountTable mounts, Path directory) {
        Optional<MountTable.Mount> mount = mounts.mountOf(directory);
        if (mount.isEmpty()) {
            return new ProjectQuotaSupport(false, "", "");
        }
        boolean on = mount.get().options().stream().anyMatch(option -> OPTIONS.contains(option.split("=", 2)[0]));
        return new ProjectQuotaSupport(on, mount.get().mountPoint().toString(), mount.get().fsType());
    }

    /** On this machine's mounts. */
    public static ProjectQuotaSupport of(Path directory) {
        try {
            return of(MountTable.current(), directory);
        } catch (IOException e) {
            return new ProjectQuotaSupport(false, "", "");
        }
    }
}
