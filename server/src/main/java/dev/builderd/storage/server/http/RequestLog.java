package dev.builderd.storage.server.http;

import dev.builderd.storage.core.model.TenantId;
import io.javalin.http.Context;
import io.javalin.router.Endpoint;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * After every request: one log line (method, route template, tenant, status, problem type, bytes
 * in and out, duration), as key-value pairs that the JSON log format writes as fields, and the
 * HTTP metrics. Labels are bounded: the route is the matched template (never the path with its
 * IDs), the tenant only on answers below 400 (a valid tenant the caller may reach, so random
 * names cannot grow the label set), the problem type from a fixed list. Nothing from headers is
 * logged, so never a token.
 */
public final class RequestLog {

    private static final Logger LOG = LoggerFactory.getLogger("builderd.requests");
    /** The Context attribute where {@link Problems} leaves the type of a problem answer. */
    static final String PROBLEM_ATTRIBUTE = "builderd.problem";

    private final Counter requests;
    private final Histogram durations;
    private final Counter problems;
    private final Counter bytes;

    public RequestLog(PrometheusRegistry registry) {
        requests = Counter.builder().name("builderd_http_requests")
                .help("HTTP requests answered, by method, route template and status code")
                .labelNames("method", "route", "status").register(registry);
        durations = Histogram.builder().name("builderd_http_request_duration_seconds")
                .help("Time from a request's arrival to its answer's end, by method and route template")
                .classicUpperBounds(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
                .labelNames("method", "route").register(registry);
        problems = Counter.builder().name("builderd_http_problems")
                .help("Problem answers (4xx and 5xx) by problem type, such as quota-exceeded or backend-unavailable")
                .labelNames("type", "status").register(registry);
        bytes = Counter.builder().name("builderd_http_bytes")
                .help("Bytes of request bodies received (in) and answers sent (out), by tenant, for answers below 400")
                .labelNames("tenant_id", "direction").register(registry);
    }

    /** Records a finished request that took {@code millis}. */
    public void record(Context ctx, float millis) {
        Endpoint endpoint = ctx.endpoints().lastHttpEndpoint();
        String route = endpoint == null ? "unmatched" : endpoint.path;
        String method = ctx.method().name();
        int status = ctx.status().getCode();
        long in = Math.max(0, ctx.req().getContentLengthLong());
        long out = responseLength(ctx);
        String tenant = status < 400 ? validTenant(ctx.pathParamMap().get("tenant")) : "";
        String problem = ctx.attribute(PROBLEM_ATTRIBUTE);
        requests.labelValues(method, route, Integer.toString(status)).inc();
        durations.labelValues(method, route).observe(millis / 1000.0);
        if (problem != null) {
            problems.labelValues(problem, Integer.toString(status)).inc();
        }
        if (!tenant.isEmpty()) {
            bytes.labelValues(tenant, "in").inc(in);
            bytes.labelValues(tenant, "out").inc(out);
        }
        // Rounded once, for the field and the message alike (String.format cost ~2% of a 4 KiB cache GET).
        double durationMs = Math.round(millis * 10) / 10.0;
        LOG.atInfo().addKeyValue("method", method).addKeyValue("route", route).addKeyValue("tenant", tenant)
                .addKeyValue("status", status).addKeyValue("problem", problem == null ? "" : problem)
                .addKeyValue("bytes_in", in).addKeyValue("bytes_out", out).addKeyValue("duration_ms", durationMs)
                .log("{} {} tenant={} -> {}{} in={} out={} bytes in {} ms", method, route, tenant.isEmpty() ? "-" : tenant, status,
                        problem == null ? "" : " " + problem, in, out, durationMs);
    }

    private static long responseLength(Context ctx) {
        String length = ctx.res().getHeader("Content-Length");
        try {
            return length == null ? 0 : Long.parseLong(length);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private static String validTenant(String value) {
        if (value == null) {
            return "";
        }
        try {
            return TenantId.of(value).value();
        } catch (RuntimeException invalid) {
            return "";
        }
    }
}
