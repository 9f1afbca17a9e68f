package dev.builderd.storage.core.model;

import java.time.Instant;
import java.util.Optional;

/**
 * A build as stored. An active build holds a lease that its worker renews; when the lease runs
 * out the build is failed with the reason {@code lease expired}.
 *
 * @param overQuota set while the tenant is past a hard limit and this build writes into its
 *     directories: its worker should stop (told through the build's status and heartbeat)
 * @param hostNode the node that created the build, where its workspace and temp directories
 *     are; empty for builds from before nodes were recorded and for restored builds (any node
 *     serving them counts as their host)
 */
public record BuildInfo(BuildRef ref, BuildStatus status, Optional<String> failureReason, Instant created,
        Optional<Instant> completed, Instant leaseExpires, boolean overQuota, Optional<String> hostNode) {

    /** Whether the build's directories are on {@code node}. */
    public boolean isHostedOn(String node) {
        return hostNode.map(node::equals).orElse(true);
    }

    public boolean isActive() {
        return status == BuildStatus.ACTIVE;
    }
}
