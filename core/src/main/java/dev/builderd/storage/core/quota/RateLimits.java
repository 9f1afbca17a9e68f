package dev.builderd.storage.core.quota;

import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.model.Tier;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A tenant's fairness limits on the API: its tier's, with any per-tenant overrides applied. They
 * bound what one tenant can take of a node so that its flood cannot starve the others.
 *
 * @param requestsPerSecond requests per second on average; twice as many may come in one burst
 * @param bytesPerSecond bytes per second of request and response bodies together (paced, never cut)
 * @param concurrentRequests requests worked on at once
 */
public record RateLimits(long requestsPerSecond, long bytesPerSecond, int concurrentRequests) {

    /** The highest {@code requests_per_second} (a token bucket refills at most one token per nanosecond). */
    public static final long MAX_REQUESTS_PER_SECOND = 1_000_000_000L;
    /** The highest {@code bytes_per_second} (the bucket counts bytes in KiB, at most one per nanosecond). */
    public static final long MAX_BYTES_PER_SECOND = 1_000_000_000_000L;

    public RateLimits {
        if (requestsPerSecond < 1 || bytesPerSecond < 1 || concurrentRequests < 1) {
            throw new InvalidInputException("requests_per_second, bytes_per_second and concurrent_requests must be at least 1");
        }
        if (requestsPerSecond > MAX_REQUESTS_PER_SECOND || bytesPerSecond > MAX_BYTES_PER_SECOND) {
            throw new InvalidInputException("requests_per_second can be at most " + MAX_REQUESTS_PER_SECOND
                    + " and bytes_per_second at most " + MAX_BYTES_PER_SECOND);
        }
    }

    /** Per-tenant overrides; empty fields keep the tier's value. */
    public record Overrides(OptionalLong requestsPerSecond, OptionalLong bytesPerSecond, Optional<Integer> concurrentRequests) {

        public static final Overrides NONE = new Overrides(OptionalLong.empty(), OptionalLong.empty(), Optional.empty());
    }

    /** The tier's limits with {@code overrides} applied; throws {@link InvalidInputException} for a value below 1. */
    public static RateLimits of(Tier tier, Overrides overrides) {
        return new RateLimits(overrides.requestsPerSecond().orElse(tier.requestsPerSecond()),
                overrides.bytesPerSecond().orElse(tier.bytesPerSecond()),
                overrides.concurrentRequests().orElse(tier.concurrentRequests()));
    }

    /** How many requests may come at once after a quiet spell: two seconds' worth. */
    public long burstRequests() {
        return Math.multiplyExact(requestsPerSecond, 2);
    }
}
