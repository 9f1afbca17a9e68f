package dev.builderd.storage.server.http;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Ticker;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Slows down token guessing: once a client address has presented {@link #MAX_FAILURES} tokens
 * that were refused within {@link #WINDOW} (counted from its first refusal), every further request
 * from it that presents credentials is answered 429 until that window ends, without a token being
 * looked up. Other addresses are not affected.
 *
 * <p>In memory, per node: behind a load balancer an address gets {@link #MAX_FAILURES} a window
 * on each node. It counts per address, not per token ID, because token IDs are not secret: a
 * count per ID would let anyone lock a build's token out by sending wrong secrets with its ID.
 */
final class AuthFailureLimiter {

    /** Refused tokens an address may present within a window. */
    static final int MAX_FAILURES = 10;
    /** How long a window lasts from an address's first refused token. */
    static final Duration WINDOW = Duration.ofMinutes(1);
    /** Addresses tracked at once; past it Caffeine evicts the least used. */
    private static final long MAX_ADDRESSES = 100_000;

    /** An address's refusals since {@code startNanos}. */
    private record Failures(long startNanos, AtomicInteger count) {
    }

    private final Ticker ticker = Ticker.systemTicker();
    /** The window of each address with refusals, dropped when it ends (it is never written again). */
    private final Cache<String, Failures> windows = Caffeine.newBuilder()
            .expireAfterWrite(WINDOW).maximumSize(MAX_ADDRESSES).ticker(ticker).build();

    /** Throws {@link Blocked} while {@code address} has presented too many refused tokens in its window. */
    void requireAllowed(String address) {
        Failures failures = windows.getIfPresent(address);
        if (failures != null && failures.count().get() >= MAX_FAILURES) {
            long left = failures.startNanos() + WINDOW.toNanos() - ticker.read();
            if (left > 0) {
                throw new Blocked(Duration.ofNanos(left));
            }
        }
    }

    /** Counts a refused token presented by {@code address}. */
    void failed(String address) {
        windows.get(address, a -> new Failures(ticker.read(), new AtomicInteger())).count().incrementAndGet();
    }

    /** Refused because the client's address presented too many refused tokens. */
    static final class Blocked extends RuntimeException {
        final Duration retryAfter;

        Blocked(Duration retryAfter) {
            super("too many failed authentications from this address; retry in " + seconds(retryAfter) + " s", null, false, false);
            this.retryAfter = retryAfter;
        }

        /** Whole seconds, rounded up, for {@code Retry-After}. */
        static long seconds(Duration duration) {
            return Math.max(1, (duration.toMillis() + 999) / 1000);
        }
    }
}
