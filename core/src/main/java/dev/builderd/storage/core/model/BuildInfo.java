package dev.builderd.storage.core.model;

import java.time.Instant;
import java.util.Optional;

/**
 * A build as stored. An active build holds a lease that its worker renews; when the lease runs
 * out the build is failed with the reason {@code lease expired}.
 */
public record BuildInfo(BuildRef ref, BuildStatus status, Optional<String> failureReason, Instant created,
        Optional<Instant> completed, Instant leaseExpires) {

    public boolean isActive() {
        return status == BuildStatus.ACTIVE;
    }
}
