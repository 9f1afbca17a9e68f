package dev.builderd.storage.server.http;

import dev.builderd.storage.core.error.AlreadyExistsException;
import dev.builderd.storage.core.error.ConflictException;
import dev.builderd.storage.core.error.ForbiddenException;
import dev.builderd.storage.core.error.EncryptionKeysException;
import dev.builderd.storage.core.error.IntegrityException;
import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.error.LimitExceededException;
import dev.builderd.storage.core.error.MisdirectedException;
import dev.builderd.storage.core.error.QuotaExceededException;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.error.StorageException;
import dev.builderd.storage.core.error.UnavailableException;
import io.javalin.http.Context;
import java.util.LinkedHashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one place where errors become HTTP responses: {@code application/problem+json} bodies
 * (RFC 9457) whose {@code detail} says what was wrong in words a person can act on.
 */
final class Problems {

    private static final Logger LOG = LoggerFactory.getLogger(Problems.class);
    private static final String TYPE_BASE = "https://builderd.dev/problems/";
    static final String CONTENT_TYPE = "application/problem+json";

    /** A problem kind: HTTP status, type slug and title. */
    record Kind(int status, String slug, String title) {
    }

    static final Kind UNAUTHENTICATED = new Kind(401, "unauthenticated", "Unauthenticated");
    static final Kind RANGE_NOT_SATISFIABLE = new Kind(416, "range-not-satisfiable", "Range Not Satisfiable");
    static final Kind INVALID_INPUT = new Kind(400, "invalid-input", "Invalid Input");
    static final Kind NOT_FOUND = new Kind(404, "not-found", "Not Found");
    static final Kind CONTENT_TOO_LARGE = new Kind(413, "content-too-large", "Content Too Large");
    static final Kind TOO_MANY_FAILURES = new Kind(429, "too-many-failed-authentications", "Too Many Failed Authentications");
    static final Kind INTERNAL = new Kind(500, "internal", "Internal Server Error");
    /** Over a tenant's fairness limits on the API (TenantRateLimits): the answer carries {@code Retry-After}. */
    static final Kind RATE_LIMITED = new Kind(429, "rate-limited", "Too Many Requests");

    private Problems() {
    }

    static Kind kindOf(StorageException e) {
        return switch (e) {
            case NotFoundException ignored -> NOT_FOUND;
            case AlreadyExistsException ignored -> new Kind(409, "already-exists", "Already Exists");
            case ConflictException ignored -> new Kind(409, "conflict", "Conflict");
            case InvalidInputException ignored -> INVALID_INPUT;
            case ForbiddenException ignored -> new Kind(403, "forbidden", "Forbidden");
            case LimitExceededException ignored -> new Kind(429, "limit-exceeded", "Limit Exceeded");
            case QuotaExceededException ignored -> new Kind(507, "quota-exceeded", "Insufficient Storage");
            case IntegrityException ignored -> new Kind(500, "integrity-violation", "Integrity Violation");
            case UnavailableException ignored -> new Kind(503, "unavailable", "Service Unavailable");
            case EncryptionKeysException ignored -> new Kind(500, "encryption-keys-unavailable", "Encryption Keys Unavailable");
            case MisdirectedException ignored -> new Kind(421, "misdirected", "Misdirected Request");
        };
    }

    static void respond(Context ctx, StorageException e) {
        Kind kind = kindOf(e);
        if (kind.status() >= 500) {
            LOG.error("{} {}: {}", ctx.method(), ctx.path(), e.getMessage(), e);
        }
        if (e instanceof LimitExceededException) {
            ctx.header("Retry-After", "30");
        }
        Map<String, Object> extensions = new LinkedHashMap<>();
        if (e instanceof MisdirectedException misdirected) {
            extensions.put("host_node", misdirected.hostNode());
            misdirected.hostUrl().ifPresent(url -> {
                extensions.put("host_url", url);
                ctx.header("Location", url + ctx.path());
            });
        }
        if (e instanceof QuotaExceededException quota) {
            quota.figures().ifPresent(figures -> extensions.put("quota", Map.of(
                    "scope", figures.scope(),
                    "limit_bytes", figures.limitBytes(),
                    "used_bytes", figures.usedBytes(),
                    "requested_bytes", figures.requestedBytes())));
        }
        respond(ctx, kind, e.getMessage(), extensions);
    }

    static void respond(Context ctx, Kind kind, String detail) {
        respond(ctx, kind, detail, Map.of());
    }

    /** A problem response; {@code extensions} are extra members (RFC 9457 section 3.2). */
    static void respond(Context ctx, Kind kind, String detail, Map<String, Object> extensions) {
        if (kind == UNAUTHENTICATED) {
            ctx.header("WWW-Authenticate", "Bearer realm=\"builderd\"");
        }
        ctx.attribute(RequestLog.PROBLEM_ATTRIBUTE, kind.slug());
        ctx.status(kind.status());
        ctx.contentType(CONTENT_TYPE);
        ctx.result(body(kind, detail, ctx.path(), extensions));
    }

    /** The body of a problem response about {@code instance} (the request's path), for answers made below Javalin. */
    static String body(Kind kind, String detail, String instance, Map<String, Object> extensions) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("type", TYPE_BASE + kind.slug());
        body.put("title", kind.title());
        body.put("status", kind.status());
        body.put("detail", detail);
        body.put("instance", instance);
        body.putAll(extensions);
        return Json.write(body);
    }

    static void unexpected(Context ctx, Exception e) {
        LOG.error("{} {} failed unexpectedly", ctx.method(), ctx.path(), e);
        respond(ctx, INTERNAL, "an unexpected error occurred; the daemon's log has the details");
    }
}
