package dev.builderd.storage.server.http;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.rolling.RollingFileAppender;
import ch.qos.logback.core.rolling.SizeAndTimeBasedRollingPolicy;
import ch.qos.logback.core.util.FileSize;
import dev.builderd.storage.core.model.Principal;
import io.javalin.config.JavalinConfig;
import io.javalin.http.Context;
import io.javalin.router.Endpoint;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The audit log (docs/security-audit.md): one JSON line on the logger {@value #LOGGER} for every
 * administrative action, whatever its outcome, and for every request refused with 403 (a token
 * that tried to reach another tenant, or a tenant token that tried an admin action). A line says
 * who (the principal: admin, or tenant and token ID; the remote address), what (method, route
 * template, target tenant, build and token ID), when, and the outcome (status, problem type).
 *
 * <p>Administrative actions are every writing request (not GET or HEAD) made with the admin token
 * or to a {@code /v1/admin/} route, and every request to the other routes that need the admin
 * token ({@link #ADMIN_ROUTES}), whoever makes it. Reads are not audited unless refused. Only route templates and path
 * IDs are written: never a header (so never a token), a query or a body.
 */
public final class AuditLog {

    /** The SLF4J logger the lines go to. */
    static final String LOGGER = "builderd.audit";
    private static final Logger LOG = LoggerFactory.getLogger(LOGGER);
    private static final String FILE_APPENDER = "audit-file";
    /** Routes outside {@code /v1/admin/} that need the admin token: audited whoever calls (a 401 too). */
    private static final Set<String> ADMIN_ROUTES = Set.of(
            "PUT /v1/tenants/{tenant}",
            "DELETE /v1/tenants/{tenant}",
            "POST /v1/tenants/{tenant}/tokens",
            "DELETE /v1/tenants/{tenant}/tokens/{token}",
            "PUT /v1/tenants/{tenant}/retention-policy",
            "POST /v1/tenants/{tenant}/retention-policy/run",
            "PUT /v1/tenants/{tenant}/cache-policies/{type}",
            "POST /v1/tenants/{tenant}/encryption/rotate",
            "POST /v1/tenants/{tenant}/encryption/reencrypt",
            "PUT /v1/global/registry-cache/{digest}");

    private final Function<Context, Optional<Principal>> authenticate;
    private final Counter events;

    /** @param authenticate who a request's credentials name, if they are valid */
    AuditLog(Function<Context, Optional<Principal>> authenticate, PrometheusRegistry registry) {
        this.authenticate = authenticate;
        this.events = Counter.builder().name("builderd_audit_events")
                .help("Lines written to the audit log, by outcome: success, failed, denied (403) or unauthenticated (401)")
                .labelNames("outcome").register(registry);
    }

    /** Records every audited request once it is answered. */
    void register(JavalinConfig config) {
        config.routes.after(this::record);
    }

    private void record(Context ctx) {
        Endpoint endpoint = ctx.endpoints().lastHttpEndpoint();
        if (endpoint == null) {
            return;
        }
        String method = ctx.method().name();
        int status = ctx.status().getCode();
        boolean writes = !method.equals("GET") && !method.equals("HEAD");
        boolean adminRoute = ADMIN_ROUTES.contains(method + " " + endpoint.path) || writes && endpoint.path.startsWith("/v1/admin/");
        if (!adminRoute && !writes && status != 403) {
            return; // the hot path, reads not refused: not even the token is looked at
        }
        Optional<Principal> principal = authenticate.apply(ctx);
        if (!adminRoute && status != 403 && !(principal.orElse(null) instanceof Principal.Admin)) {
            return;
        }
        String outcome = status == 403 ? "denied" : status == 401 ? "unauthenticated" : status < 400 ? "success" : "failed";
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("time", Instant.now().toString());
        if (principal.orElse(null) instanceof Principal.Tenant tenant) {
            line.put("principal", "tenant");
            line.put("principal_tenant", tenant.tenant().value());
            line.put("token_id", tenant.tokenId());
        } else {
            line.put("principal", principal.isPresent() ? "admin" : "anonymous");
        }
        line.put("remote_address", ctx.ip());
        line.put("method", method);
        line.put("route", endpoint.path);
        target(ctx, "tenant").ifPresent(tenant -> line.put("target_tenant", tenant));
        target(ctx, "build").ifPresent(build -> line.put("target_build", build));
        target(ctx, "token").ifPresent(token -> line.put("target_token_id", token));
        line.put("status", status);
        line.put("outcome", outcome);
        Optional.ofNullable(ctx.<String>attribute(RequestLog.PROBLEM_ATTRIBUTE)).ifPresent(problem -> line.put("problem", problem));
        LOG.info(Json.write(line));
        events.labelValues(outcome).inc();
    }

    private static Optional<String> target(Context ctx, String pathParam) {
        return Optional.ofNullable(ctx.pathParamMap().get(pathParam));
    }

    /**
     * Sends the audit log to {@code file}, rotated daily and at 100 MiB into gzipped files beside
     * it, 90 days kept; empty: into the daemon's own log. The logger is the process's: the last
     * daemon started in a JVM decides.
     *
     * @return closes the file (the daemon's stop: a file left open would hold its file system busy)
     * @throws IOException when the file's directory cannot be made or the file cannot be written
     */
    public static Destination writeTo(Optional<Path> file) throws IOException {
        if (file.isPresent()) {
            Files.createDirectories(file.get().toAbsolutePath().getParent());
            if (Files.exists(file.get()) ? !Files.isWritable(file.get()) : !Files.isWritable(file.get().toAbsolutePath().getParent())) {
                throw new IOException("the audit log " + file.get() + " cannot be written (UNKEY_BUILDERD_AUDIT_LOG_FILE)");
            }
        }
        if (!(LoggerFactory.getILoggerFactory() instanceof LoggerContext context)) {
            LOG.warn("the audit log stays on the SLF4J logger {}: the logging backend is not logback", LOGGER);
            return () -> { };
        }
        ch.qos.logback.classic.Logger logger = context.getLogger(LOGGER);
        logger.setLevel(Level.INFO);
        var previous = logger.getAppender(FILE_APPENDER);
        if (previous != null) {
            logger.detachAppender(previous);
            previous.stop();
        }
        logger.setAdditive(file.isEmpty());
        if (file.isEmpty()) {
            return () -> { };
        }
        RollingFileAppender<ILoggingEvent> appender = new RollingFileAppender<>();
        appender.setContext(context);
        appender.setName(FILE_APPENDER);
        appender.setFile(file.get().toString());
        SizeAndTimeBasedRollingPolicy<ILoggingEvent> rolling = new SizeAndTimeBasedRollingPolicy<>();
        rolling.setContext(context);
        rolling.setParent(appender);
        rolling.setFileNamePattern(file.get() + ".%d{yyyy-MM-dd,UTC}.%i.gz");
        rolling.setMaxFileSize(FileSize.valueOf("100MB"));
        rolling.setMaxHistory(90);
        rolling.start();
        appender.setRollingPolicy(rolling);
        PatternLayoutEncoder encoder = new PatternLayoutEncoder();
        encoder.setContext(context);
        encoder.setPattern("%msg%n");
        encoder.start();
        appender.setEncoder(encoder);
        appender.start();
        logger.addAppender(appender);
        return () -> {
            // Unless a daemon started later in this JVM has taken the logger over.
            if (logger.getAppender(FILE_APPENDER) == appender) {
                logger.detachAppender(appender);
                appender.stop();
                logger.setAdditive(true);
            }
        };
    }

    /** Where the audit log goes until it is closed. */
    @FunctionalInterface
    public interface Destination extends AutoCloseable {
        @Override
        void close();
    }
}
