package dev.builderd.storage.core.model;

import dev.builderd.storage.core.error.InvalidInputException;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * Service tiers and their limits (the specification's table; sizes in binary units), and the
 * fairness limits of a tenant's API traffic: requests per second, bytes per second of request and
 * response bodies, and requests in flight at once (docs/security-fairness.md).
 */
public enum Tier {
    FREE(1L << 30, 500L << 20, 500L << 20, 1, false, Duration.ofDays(30), 50, 25L << 20, 8),
    PRO(10L << 30, 5L << 30, 5L << 30, 3, false, Duration.ofDays(30), 200, 100L << 20, 32),
    ENTERPRISE(100L << 30, 50L << 30, 50L << 30, 10, true, Duration.ofDays(90), 1000, 400L << 20, 64),
    DEDICATED(1L << 40, 500L << 30, 500L << 30, 50, true, Duration.ofDays(90), 5000, 1L << 30, 128);

    private final long totalBytes;
    private final long artifactBytes;
    private final long cacheBytes;
    private final int concurrentBuilds;
    private final boolean alwaysEncrypted;
    private final Duration retention;
    private final long requestsPerSecond;
    private final long bytesPerSecond;
    private final int concurrentRequests;

    Tier(long totalBytes, long artifactBytes, long cacheBytes, int concurrentBuilds, boolean alwaysEncrypted,
            Duration retention, long requestsPerSecond, long bytesPerSecond, int concurrentRequests) {
        this.requestsPerSecond = requestsPerSecond;
        this.bytesPerSecond = bytesPerSecond;
        this.concurrentRequests = concurrentRequests;
        this.totalBytes = totalBytes;
        this.artifactBytes = artifactBytes;
        this.cacheBytes = cacheBytes;
        this.concurrentBuilds = concurrentBuilds;
        this.alwaysEncrypted = alwaysEncrypted;
        this.retention = retention;
    }

    /** Parses a tier name, case-insensitively; the error lists the accepted names. */
    public static Tier parse(String name) {
        for (Tier tier : values()) {
            if (tier.wireName().equalsIgnoreCase(name)) {
                return tier;
            }
        }
        throw new InvalidInputException("tier " + Names.quote(name) + " is unknown: use one of "
                + Arrays.stream(values()).map(Tier::wireName).collect(Collectors.joining(", ")));
    }

    /** The lowercase name used in the API and configuration. */
    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public long totalBytes() {
        return totalBytes;
    }

    public long artifactBytes() {
        return artifactBytes;
    }

    public long cacheBytes() {
        return cacheBytes;
    }

    public int concurrentBuilds() {
        return concurrentBuilds;
    }

    /** Whether data at rest is always encrypted on this tier (otherwise the tenant may opt in). */
    public boolean alwaysEncrypted() {
        return alwaysEncrypted;
    }

    /** How long artifacts of completed builds are kept by default. */
    public Duration retention() {
        return retention;
    }

    /** API requests per second a tenant of this tier may make (on one node), on average. */
    public long requestsPerSecond() {
        return requestsPerSecond;
    }

    /** Bytes per second of request and response bodies a tenant of this tier moves (on one node). */
    public long bytesPerSecond() {
        return bytesPerSecond;
    }

    /** API requests of a tenant of this tier worked on at once (on one node). */
    public int concurrentRequests() {
        return concurrentRequests;
    }
}
