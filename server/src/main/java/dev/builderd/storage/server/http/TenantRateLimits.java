package dev.builderd.storage.server.http;

import dev.builderd.storage.core.error.StorageException;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.quota.RateLimits;
import io.github.bucket4j.Bucket;
import io.github.bucket4j.ConsumptionProbe;
import io.javalin.config.JavalinConfig;
import io.javalin.http.Context;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
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
 * Admin requests and unauthenticated ones (answered 401 at once) are not limited. A tenant's
 * limits are looked up at most every {@link #REFRESH}, at once after they are changed through
 * this node. Several nodes each keep their own buckets: behind N nodes a tenant may reach N times
 * its limits.
 */
final class TenantRateLimits {

    /** How long a tenant's limits are used before they are looked up again. */
    static final Duration REFRESH = Duration.ofSeconds(30);
    /** The Jetty request attribute holding the {@link Pace} of a request's bodies. */
    private static final String PACE = "builderd.pace";
    /** The Javalin attribute marking a request counted in flight (holds its tenant's count). */
    private static final String IN_FLIGHT = "builderd.in-flight";

    /** A tenant's limits as loaded, its buckets and its requests in flight. */
    private record TenantState(RateLimits limits, long loadedNanos, Bucket requests, Bucket bytes, AtomicInteger inFlight) {
    }

    private final Function<TenantId, RateLimits> lookup;
    private final Function<Context, Optional<Principal>> authenticate;
    private final ConcurrentHashMap<TenantId, TenantState> tenants = new ConcurrentHashMap<>();
    private final Counter limited;
    private final Counter paced;

    /**
     * @param lookup a tenant's limits now (its tier's with its overrides)
     * @param authenticate who a request's credentials name, if they are valid
     */
    TenantRateLimits(Function<TenantId, RateLimits> lookup, Function<Context, Optional<Principal>> authenticate,
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

    /** Installs the limits: the pacing of bodies in front of Javalin, and the admission before every route. */
    void register(JavalinConfig config) {
        config.jetty.modifyServer(server -> server.setHandler(new Pacer()));
        config.routes.before(this::admit);
        config.routes.after(this::release);
    }

    /** The tenant's limits changed: the next request looks them up. */
    void forget(TenantId tenant) {
        tenants.computeIfPresent(tenant, (id, state) -> new TenantState(state.limits(), 0, state.requests(), state.bytes(),
                state.inFlight()));
    }

    private void admit(Context ctx) {
        Optional<Principal> principal = authenticate.apply(ctx);
        if (principal.isEmpty() || !(principal.get() instanceof Principal.Tenant caller)) {
            return;
        }
        TenantState state = state(caller.tenant());
        if (state == null) {
            return;
        }
        String tenant = caller.tenant().value();
        ConsumptionProbe probe = state.requests().tryConsumeAndReturnRemaining(1);
        if (!probe.isConsumed()) {
            long seconds = Math.max(1, TimeUnit.NANOSECONDS.toSeconds(probe.getNanosToWaitForRefill() + 999_999_999));
            refuse(ctx, tenant, "request_rate", seconds, "tenant '" + tenant + "' is over its limit of "
                    + state.limits().requestsPerSecond() + " requests per second (bursts up to " + state.limits().burstRequests()
                    + "); retry after " + seconds + " s");
            return;
        }
        if (state.inFlight().incrementAndGet() > state.limits().concurrentRequests()) {
            state.inFlight().decrementAndGet();
            refuse(ctx, tenant, "concurrency", 1, "tenant '" + tenant + "' already has " + state.limits().concurrentRequests()
                    + " requests in flight, its limit; retry when one of them has finished");
            return;
        }
        ctx.attribute(IN_FLIGHT, state.inFlight());
        if (ctx.req().getAttribute(PACE) instanceof Pace pace) {
            pace.limit(state.bytes(), state.limits().bytesPerSecond(), tenant);
        }
    }

    private void release(Context ctx) {
        AtomicInteger inFlight = ctx.attribute(IN_FLIGHT);
        if (inFlight != null) {
            ctx.attribute(IN_FLIGHT, null);
            inFlight.decrementAndGet();
        }
    }

    private void refuse(Context ctx, String tenant, String reason, long retryAfterSeconds, String detail) {
        limited.labelValues(tenant, reason).inc();
        ctx.header("Retry-After", Long.toString(retryAfterSeconds));
        Problems.respond(ctx, Problems.RATE_LIMITED, detail, Map.of("reason", reason, "retry_after_seconds", retryAfterSeconds));
        ctx.skipRemainingHandlers();
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
        return Bucket.builder().addLimit(limit -> limit.capacity(limits.bytesPerSecond())
                .refillGreedy(limits.bytesPerSecond(), Duration.ofSeconds(1))).build();
    }

    /**
     * The pacing of one request's bodies: none until {@link #admit} gives it its tenant's byte
     * bucket. Bytes are paid for as they pass; the debt they leave says how long the next read or
     * this write waits.
     */
    static final class Pace {
        private volatile Bucket bytes;
        private volatile long capacity;
        private volatile String tenant;
        /** {@link System#nanoTime()} before which the request body is not read further. */
        private volatile long readableAt;

        private void limit(Bucket bucket, long bucketCapacity, String tenantId) {
            tenant = tenantId;
            capacity = bucketCapacity;
            bytes = bucket;
        }

        /** Pays for {@code count} bytes; returns the nanoseconds to wait until they are paid for (0: none). */
        long charge(long count) {
            Bucket bucket = bytes;
            long wait = 0;
            // Bucket4j takes at most a bucket's capacity at once: a larger write pays in parts, the last part's wait covering all.
            for (long left = count; bucket != null && left > 0; left -= capacity) {
                wait = bucket.consumeIgnoringRateLimits(Math.min(left, capacity));
            }
            return wait;
        }

        /** Whether this request's bodies are paced, and whom to count the waits for. */
        Optional<String> tenant() {
            return bytes == null ? Optional.empty() : Optional.of(tenant);
        }
    }

    /** Wraps every request's body and response in its {@link Pace}. */
    private final class Pacer extends Handler.Wrapper {
        @Override
        public boolean handle(Request request, Response response, Callback callback) throws Exception {
            Pace pace = new Pace();
            request.setAttribute(PACE, pace);
            return super.handle(new PacedRequest(request, pace), new PacedResponse(request, response, pace), callback);
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
                    pace.tenant().ifPresent(tenant -> paced.labelValues(tenant, "in").inc(wait / 1e9));
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
            pace.tenant().ifPresent(tenant -> paced.labelValues(tenant, "out").inc(wait / 1e9));
            getRequest().getComponents().getScheduler().schedule(() -> super.write(last, content, callback), wait, TimeUnit.NANOSECONDS);
        }
    }
}
