package dev.builderd.storage.server.http;

import dev.builderd.storage.core.error.StorageException;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.quota.RateLimits;
import io.github.bucket4j.Bucket;
import io.github.bucket4j.ConsumptionProbe;
import io.javalin.config.JavalinConfig;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

/**
 * Per-tenant fairness on the API, so that one tenant's flood cannot starve the others
 * (docs/security-fairness.md). A request authenticated as a tenant is held to the tenant's
 * {@link RateLimits}, each a token bucket (Bucket4j) or a counter kept in this node's memory:
 * <ul>
 *   <li>requests per second, with a burst of two seconds' worth: past it, 429 with
 *       {@code Retry-After} (the seconds until a request is allowed again);</li>
 *   <li>requests in flight: past it, 429 with {@code Retry-After: 1}, so that one tenant cannot
 *       occupy all of Jetty's worker threads;</li>
 *   <li>bytes per second of request and response bodies together: paced, never refused or cut
 *       (a 4 GiB upload takes longer, it does not fail). The reading of a body is held back, and
 *       each write of a response is sent only once its bytes are paid for; no thread sleeps for
 *       it (the waits are scheduled on Jetty's scheduler).</li>
 * </ul>
 * The gate stands in front of Javalin, as a Jetty handler: a refused request costs no route, no
 * request log line and no thread while it waits. Its 429 goes out after a pause of up to a second
 * ({@link #MAX_PAUSE}, never past {@code Retry-After}), on Jetty's scheduler: a client that
 * retries at once, on as many connections as it likes, cannot make refusals take the CPU its
 * requests were refused to protect. Admin requests and unauthenticated ones (answered 401 by their
 * route) pass unlimited. A tenant's limits are looked up at most every {@link #REFRESH}, at once
 * after they are changed through this node. Several nodes each keep their own buckets: behind N
 * nodes a tenant may reach N times its limits.
 */
final class TenantRateLimits {

    /** How long a tenant's limits are used before they are looked up again. */
    static final Duration REFRESH = Duration.ofSeconds(30);
    /** The longest a refusal waits before it is sent. */
    static final Duration MAX_PAUSE = Duration.ofSeconds(1);
    /** The shortest: even a refusal whose next token is near must not come back at once. */
    private static final Duration MIN_PAUSE = Duration.ofMillis(100);

    /** A tenant's limits as loaded, its buckets and its requests in flight. */
    private record TenantState(RateLimits limits, long loadedNanos, Bucket requests, Bucket bytes, AtomicInteger inFlight) {
    }

    private final Function<TenantId, RateLimits> lookup;
    private final Function<Request, Optional<Principal>> authenticate;
    private final ConcurrentHashMap<TenantId, TenantState> tenants = new ConcurrentHashMap<>();
    private final Counter limited;
    private final Counter paced;

    /**
     * @param lookup a tenant's limits now (its tier's with its overrides)
     * @param authenticate who the credentials of an {@code Authorization} header (null: none) name, if they are valid
     */
    TenantRateLimits(Function<TenantId, RateLimits> lookup, Function<Request, Optional<Principal>> authenticate,
            PrometheusRegistry registry) {
        this.lookup = lookup;
        this.authenticate = authenticate;
        this.limited = Counter.builder().name("builderd_rate_limited_requests")
                .help("Requests refused with 429 by a tenant's fairness limits, by reason: request_rate or concurrency")
                .labelNames("tenant_id", "reason").register(registry);
        this.paced = Counter.builder().name("builderd_rate_limit_paced_seconds")
                .help("Seconds that tenants' request (in) and response (out) bodies were held back by their bandwidth limit")
                .labelNames("tenant_id", "direction").register(registry);
    }

    /** Installs the gate in front of Javalin. */
    void register(JavalinConfig config) {
        config.jetty.modifyServer(server -> server.setHandler(new Gate()));
    }

    /** The tenant's limits changed: the next request looks them up. */
    void forget(TenantId tenant) {
        tenants.computeIfPresent(tenant, (id, state) -> new TenantState(state.limits(), 0, state.requests(), state.bytes(),
                state.inFlight()));
    }

    /** Admits a tenant's request, paced and counted in flight until its answer is complete, or refuses it. */
    private final class Gate extends Handler.Wrapper {
        @Override
        public boolean handle(Request request, Response response, Callback callback) throws Exception {
            Principal.Tenant caller = authenticate.apply(request).orElse(null)
                    instanceof Principal.Tenant known ? known : null;
            TenantState state = caller == null ? null : state(caller.tenant());
            if (state == null) {
                return super.handle(request, response, callback);
            }
            String tenant = caller.tenant().value();
            ConsumptionProbe probe = state.requests().tryConsumeAndReturnRemaining(1);
            if (!probe.isConsumed()) {
                long wait = probe.getNanosToWaitForRefill();
                long seconds = Math.max(1, TimeUnit.NANOSECONDS.toSeconds(wait + 999_999_999));
                refuse(request, response, callback, tenant, "request_rate", seconds, wait, "tenant '" + tenant
                        + "' is over its limit of " + state.limits().requestsPerSecond() + " requests per second (bursts up to "
                        + state.limits().burstRequests() + "); retry after " + seconds + " s");
                return true;
            }
            if (state.inFlight().incrementAndGet() > state.limits().concurrentRequests()) {
                state.inFlight().decrementAndGet();
                refuse(request, response, callback, tenant, "concurrency", 1, MAX_PAUSE.toNanos(), "tenant '" + tenant
                        + "' already has " + state.limits().concurrentRequests()
                        + " requests in flight, its limit; retry when one of them has finished");
                return true;
            }
            Pace pace = new Pace(state.bytes(), kibPerSecond(state.limits()), tenant);
            Callback release = Callback.from(state.inFlight()::decrementAndGet, callback);
            boolean handled = false;
            try {
                handled = super.handle(new PacedRequest(request, pace), new PacedResponse(request, response, pace), release);
                return handled;
            } finally {
                if (!handled) {
                    state.inFlight().decrementAndGet();
                }
            }
        }
    }

    /** Answers 429 (problem+json, {@code Retry-After}) after a pause of about {@code waitNanos}, within the bounds. */
    private void refuse(Request request, Response response, Callback callback, String tenant, String reason, long retryAfterSeconds,
            long waitNanos, String detail) {
        limited.labelValues(tenant, reason).inc();
        response.setStatus(Problems.RATE_LIMITED.status());
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, Problems.CONTENT_TYPE);
        response.getHeaders().put(HttpHeader.RETRY_AFTER, retryAfterSeconds);
        byte[] body = Problems.body(Problems.RATE_LIMITED, detail, request.getHttpURI().getPath(),
                Map.of("reason", reason, "retry_after_seconds", retryAfterSeconds)).getBytes(StandardCharsets.UTF_8);
        long pause = Math.clamp(waitNanos, MIN_PAUSE.toNanos(), MAX_PAUSE.toNanos());
        request.getComponents().getScheduler().schedule(() -> response.write(true, ByteBuffer.wrap(body), callback),
                pause, TimeUnit.NANOSECONDS);
    }

    /**
     * The tenant's state, its limits looked up again when they are older than {@link #REFRESH};
     * null when they cannot be looked up and were never known (the request goes on unlimited, and
     * meets the same trouble in its route).
     */
    private TenantState state(TenantId tenant) {
        long now = System.nanoTime();
        TenantState known = tenants.get(tenant);
        if (known != null && now - known.loadedNanos() < REFRESH.toNanos()) {
            return known;
        }
        RateLimits limits;
        try {
            limits = lookup.apply(tenant);
        } catch (StorageException e) {
            return known;
        }
        return tenants.compute(tenant, (id, current) -> current != null && current.limits().equals(limits)
                ? new TenantState(limits, now, current.requests(), current.bytes(), current.inFlight())
                : new TenantState(limits, now, requestBucket(limits), byteBucket(limits),
                        current == null ? new AtomicInteger() : current.inFlight()));
    }

    private static Bucket requestBucket(RateLimits limits) {
        return Bucket.builder().addLimit(limit -> limit.capacity(limits.burstRequests())
                .refillGreedy(limits.requestsPerSecond(), Duration.ofSeconds(1))).build();
    }

    private static Bucket byteBucket(RateLimits limits) {
        long rate = kibPerSecond(limits);
        return Bucket.builder().addLimit(limit -> limit.capacity(rate).refillGreedy(rate, Duration.ofSeconds(1))).build();
    }

    /** The byte bucket counts KiB, not bytes: Bucket4j refills at most one token per nanosecond, and 1 GiB/s is more bytes than that. */
    private static long kibPerSecond(RateLimits limits) {
        return Math.max(1, limits.bytesPerSecond() >> 10);
    }

    /** The pacing of one request's bodies: bytes are paid for as they pass; the debt says how long the next read or this write waits. */
    private static final class Pace {
        private final Bucket kib;
        private final long capacity;
        private final String tenant;
        /** {@link System#nanoTime()} before which the request body is not read further. */
        private volatile long readableAt;
        /** Bytes passed but not yet paid for: less than one KiB. */
        private long unpaid;

        /** @param capacity the bucket's capacity, in KiB */
        Pace(Bucket kib, long capacity, String tenant) {
            this.kib = kib;
            this.capacity = capacity;
            this.tenant = tenant;
        }

        /** Pays for {@code count} bytes; returns the nanoseconds to wait until they are paid for (0: none). */
        synchronized long charge(long count) {
            unpaid += count;
            long wait = 0;
            // Bucket4j takes at most a bucket's capacity at once: a larger write pays in parts, the last part's wait covering all.
            for (long left = unpaid >> 10; left > 0; left -= capacity) {
                wait = kib.consumeIgnoringRateLimits(Math.min(left, capacity));
            }
            unpaid &= 1023;
            return wait;
        }
    }

    /** A request whose body is read no faster than its tenant's bandwidth allows. */
    private final class PacedRequest extends Request.Wrapper {
        private final Pace pace;

        PacedRequest(Request wrapped, Pace pace) {
            super(wrapped);
            this.pace = pace;
        }

        @Override
        public Content.Chunk read() {
            if (System.nanoTime() - pace.readableAt < 0) {
                // Not yet: demand() below wakes the reader when the bytes read so far are paid for.
                return null;
            }
            Content.Chunk chunk = super.read();
            if (chunk != null && chunk.hasRemaining()) {
                long wait = pace.charge(chunk.remaining());
                if (wait > 0) {
                    pace.readableAt = System.nanoTime() + wait;
                    paced.labelValues(pace.tenant, "in").inc(wait / 1e9);
                }
            }
            return chunk;
        }

        @Override
        public void demand(Runnable demandCallback) {
            long wait = pace.readableAt - System.nanoTime();
            if (wait > 0) {
                getComponents().getScheduler().schedule(() -> super.demand(demandCallback), wait, TimeUnit.NANOSECONDS);
            } else {
                super.demand(demandCallback);
            }
        }
    }

    /** A response whose writes go out no faster than its tenant's bandwidth allows. */
    private final class PacedResponse extends Response.Wrapper {
        private final Pace pace;

        PacedResponse(Request request, Response wrapped, Pace pace) {
            super(request, wrapped);
            this.pace = pace;
        }

        @Override
        public void write(boolean last, ByteBuffer content, Callback callback) {
            long wait = content == null ? 0 : pace.charge(content.remaining());
            if (wait <= 0) {
                super.write(last, content, callback);
                return;
            }
            paced.labelValues(pace.tenant, "out").inc(wait / 1e9);
            getRequest().getComponents().getScheduler().schedule(() -> super.write(last, content, callback), wait, TimeUnit.NANOSECONDS);
        }
    }
}
