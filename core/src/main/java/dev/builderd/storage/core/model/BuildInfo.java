package dev.builderd.storage.core.model;

import java.time.Instant;
import java.util.Optional;

/**
 * A build as stored. An active build holds a lease that its worker renews; when the lease runs
 * out the build is failed with the reason {@code lease expired}.
 *
 * @param overQuota set while the tenant is past a hard limit and this build writes into its
 *     directories: its worker should stop (told through the build's status and heartbeat)
 */
public record BuildInfo(BuildRef ref, BuildStatus status, Optional<String> failureReason, Instant created,
        Optional<Instant> completed, Instant leaseExpires, boolean overQuota) {

    public boolean isActive() {
        return status == BuildStatus.ACTIVE;
    }
}
