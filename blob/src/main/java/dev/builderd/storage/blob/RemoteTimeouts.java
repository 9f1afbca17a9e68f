package dev.builderd.storage.blob;

import java.time.Duration;

/**
 * Bounds on every call to a remote store: connecting, one request/response exchange without
 * progress, and the number of attempts for errors worth retrying (with exponential backoff and
 * jitter, done by the store's SDK or by the store itself).
 */
public record RemoteTimeouts(Duration connect, Duration request, int maxAttempts) {

    public RemoteTimeouts {
        if (connect.isNegative() || connect.isZero() || request.isNegative() || request.isZero()) {
            throw new IllegalArgumentException("timeouts must be positive");
        }
        if (maxAttempts < 1 || maxAttempts > 10) {
            throw new IllegalArgumentException("attempts must be 1 to 10, was " + maxAttempts);
        }
    }

    /** 5 s to connect, 60 s per exchange, 3 attempts. */
    public static RemoteTimeouts defaults() {
        return new RemoteTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(60), 3);
    }
}
