package dev.builderd.storage.server.http;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.builderd.storage.blob.BufferStream;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.core.ArtifactHandle;
import dev.builderd.storage.core.ArtifactService;
import dev.builderd.storage.core.BuildService;
import dev.builderd.storage.core.BuilderdStorage;
import dev.builderd.storage.core.CacheService;
import dev.builderd.storage.core.CacheWarming;
import dev.builderd.storage.core.IntegrityScrub;
import dev.builderd.storage.core.Replication;
import dev.builderd.storage.core.Layout;
import dev.builderd.storage.core.LogService;
import dev.builderd.storage.core.RetentionJanitor;
import dev.builderd.storage.core.RetentionPolicy;
import dev.builderd.storage.core.TenantEncryption;
import dev.builderd.storage.core.TenantService;
import dev.builderd.storage.core.Tokens;
import dev.builderd.storage.core.error.ForbiddenException;
import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.error.StorageException;
import dev.builderd.storage.core.metadata.CacheRows;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.model.ArtifactInfo;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.BuildStatus;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.JanitorDeletion;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.TenantInfo;
import dev.builderd.storage.core.model.Tier;
import dev.builderd.storage.core.quota.HardLimitAction;
import dev.builderd.storage.core.quota.Limits;
import dev.builderd.storage.core.quota.Quotas;
import dev.builderd.storage.core.quota.RateLimits;
import dev.builderd.storage.core.quota.Usage;
import dev.builderd.storage.server.StorageHealth;
import dev.builderd.storage.server.mount.ProjectQuotaSupport;
import dev.builderd.storage.server.mount.VolumeEncryption;
import dev.builderd.storage.server.tls.ClientCertificates;
import io.prometheus.metrics.expositionformats.ExpositionFormatWriter;
import io.prometheus.metrics.expositionformats.OpenMetricsTextFormatWriter;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.javalin.config.JavalinConfig;
import io.javalin.http.Context;
import org.eclipse.jetty.ee10.servlet.HttpOutput;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.function.LongFunction;

/**
 * The HTTP API v1: routes, authentication and the translation between HTTP and the core's
 * services. Every route authenticates first; authorization is the core's.
 */
public final class HttpApi {

    private static final String BUILD = "/v1/tenants/{tenant}/builds/{build}";
    private static final int COPY_BUFFER = 256 * 1024;
    /** From this size on, a response is worth sending with direct buffers. */
    private static final long LARGE_RESPONSE = 256 * 1024;

    private record TenantBody(String tier, Boolean encryption, LimitsBody limits) {
    }

    /** Per-tenant overrides of the tier's limits; absent fields keep the tier's. */
    private record LimitsBody(@JsonProperty("total_bytes") Long totalBytes, @JsonProperty("artifact_bytes") Long artifactBytes,
            @JsonProperty("cache_bytes") Long cacheBytes, @JsonProperty("concurrent_builds") Integer concurrentBuilds,
            @JsonProperty("soft_limit_percent") Integer softLimitPercent, @JsonProperty("hard_limit_action") String hardLimitAction,
            @JsonProperty("requests_per_second") Long requestsPerSecond, @JsonProperty("bytes_per_second") Long bytesPerSecond,
            @JsonProperty("concurrent_requests") Integer concurrentRequests) {

        Limits.Overrides overrides() {
            return new Limits.Overrides(optional(totalBytes), optional(artifactBytes), optional(cacheBytes),
                    Optional.ofNullable(concurrentBuilds), Optional.ofNullable(softLimitPercent),
                    Optional.ofNullable(hardLimitAction).map(HardLimitAction::parse));
        }

        RateLimits.Overrides rateOverrides() {
            return new RateLimits.Overrides(optional(requestsPerSecond), optional(bytesPerSecond), Optional.ofNullable(concurrentRequests));
        }

        private static java.util.OptionalLong optional(Long value) {
            return value == null ? java.util.OptionalLong.empty() : java.util.OptionalLong.of(value);
        }
    }

    private record BuildBody(@JsonProperty("build_id") String buildId, @JsonProperty("lease_seconds") Long leaseSeconds) {
    }

    private record LeaseBody(@JsonProperty("lease_seconds") Long leaseSeconds) {
    }

    private record CompleteBody(String status) {
    }

    private record ImportBody(String from) {
    }

    private record RotateBody(Boolean reencrypt) {
    }

    private record CachePolicyBody(@JsonProperty("max_size_bytes") Long maxSizeBytes,
            @JsonProperty("eviction_policy") String evictionPolicy,
            @JsonProperty("min_retention_seconds") Long minRetentionSeconds,
            @JsonProperty("max_retention_seconds") Long maxRetentionSeconds) {
        CacheRows.PolicyRow row() {
            return new CacheRows.PolicyRow(Optional.ofNullable(maxSizeBytes), Optional.ofNullable(evictionPolicy).map(CacheRows.Order::parse),
                    Optional.ofNullable(minRetentionSeconds), Optional.ofNullable(maxRetentionSeconds));
        }
    }

    private record WarmBody(String type, java.util.List<String> keys, @JsonProperty("from_tenant") String fromTenant,
            @JsonProperty("from_global") Boolean fromGlobal) {
        CacheWarming.Request request() {
            return new CacheWarming.Request(Optional.ofNullable(type).map(CacheService.CacheType::parse),
                    keys == null ? java.util.List.of() : keys, Optional.ofNullable(fromTenant).map(TenantId::of),
                    Boolean.TRUE.equals(fromGlobal));
        }
    }

    /** A token request: scope (default write), the build it is bound to, its lifetime (a build token's default: 24 h). */
    private record TokenBody(String scope, @JsonProperty("build_id") String buildId,
            @JsonProperty("expires_in_seconds") Long expiresInSeconds) {
        Tokens.Request request() {
            return new Tokens.Request(scope == null ? Principal.Scope.WRITE : Principal.Scope.parse(scope),
                    Optional.ofNullable(buildId).map(BuildId::of), Optional.ofNullable(expiresInSeconds).map(Duration::ofSeconds));
        }
    }

    private record PinsBody(String type, java.util.List<String> keys) {
    }

    private final Tokens tokens;
    private final TenantService tenants;
    private final BuildService builds;
    private final ArtifactService artifacts;
    private final LogService logs;
    private final MetadataStore metadata;
    private final FileSender fileSender = new FileSender();
    private final StorageHealth health;
    private final TenantEncryption encryption;
    private final Quotas quotas;
    private static final ExpositionFormatWriter OPEN_METRICS = OpenMetricsTextFormatWriter.create();
    private static final ExpositionFormatWriter PROMETHEUS_TEXT = PrometheusTextFormatWriter.create();
    private final CacheService caches;
    private final CacheWarming warming;
    private final IntegrityScrub scrub;
    private final java.util.Optional<Replication> replication;
    private final RetentionJanitor retention;
    private final PrometheusRegistry metrics;
    private final Layout layout;
    private final BuildToolCaches buildToolCaches;
    private final BackupRoutes backupRoutes;
    private final AuthFailureLimiter authFailures = new AuthFailureLimiter();
    /** The request attribute holding the caller once authenticated: a request is authenticated once. */
    private static final String CALLER = "builderd.caller";
    /** The request attribute holding the fairness limiter's lookup of the presented token, which the route reuses. */
    private static final String LOOKUP = "builderd.token-lookup";

    /** A token looked up, and what the lookup said. */
    private record Lookup(String token, Tokens.Authentication result) {
    }
    private final Optional<TenantRateLimits> rateLimits;
    private final AuditLog audit;

    /**
     * @param buildToolMaxEntryBytes the largest entry the build-tool cache protocols accept
     * @param rateLimited whether tenants' requests are held to their fairness limits ({@link TenantRateLimits})
     */
    public HttpApi(BuilderdStorage storage, MetadataStore metadata, StorageHealth health, Layout layout, long buildToolMaxEntryBytes,
            boolean rateLimited) {
        this.health = health;
        this.encryption = storage.encryption();
        this.quotas = storage.quotas();
        this.caches = storage.caches();
        this.warming = storage.cacheWarming();
        this.scrub = storage.scrub();
        this.replication = storage.replication();
        this.retention = storage.retention();
        this.metrics = storage.metrics();
        this.layout = layout;
        this.tokens = storage.tokens();
        this.tenants = storage.tenants();
        this.builds = storage.builds();
        this.artifacts = storage.artifacts();
        this.logs = storage.logs();
        this.metadata = metadata;
        this.backupRoutes = new BackupRoutes(storage.backups(), this::principal);
        this.buildToolCaches = new BuildToolCaches(caches, ctx -> caller(ctx, true), this::sendCache, buildToolMaxEntryBytes);
        this.rateLimits = rateLimited ? Optional.of(new TenantRateLimits(quotas::rateLimits, this::authenticated, metrics)) : Optional.empty();
        // Who the request authenticated as, if it got that far: a refused token stays anonymous (and is counted once).
        this.audit = new AuditLog(ctx -> ctx.attribute(CALLER) instanceof Principal known ? Optional.of(known) : Optional.empty(), metrics);
    }

    /** Registers every route and the error mapping on a Javalin configuration. */
    public void register(JavalinConfig config) {
        var routes = config.routes;
        routes.exception(StorageException.class, (e, ctx) -> Problems.respond(ctx, e));
        routes.exception(Unauthenticated.class, (e, ctx) -> {
            Problems.respond(ctx, Problems.UNAUTHENTICATED, e.getMessage());
            if (e.basicAccepted) {
                ctx.res().addHeader("WWW-Authenticate", "Basic realm=\"builderd\"");
            }
        });
        routes.exception(AuthFailureLimiter.Blocked.class, (e, ctx) -> {
            ctx.header("Retry-After", Long.toString(AuthFailureLimiter.Blocked.seconds(e.retryAfter)));
            Problems.respond(ctx, Problems.TOO_MANY_FAILURES, e.getMessage());
        });
        routes.exception(Exception.class, (e, ctx) -> Problems.unexpected(ctx, e));
        rateLimits.ifPresent(limits -> limits.register(config));
        audit.register(config);
        RequestBodies.register(config);
        routes.error(404, ctx -> {
            if (!ctx.res().isCommitted() && ctx.result() == null) {
                Problems.respond(ctx, Problems.NOT_FOUND, "no route for " + ctx.method() + " " + ctx.path());
            }
        });

        buildToolCaches.register(routes);
        routes.get("/health/live", ctx -> ctx.json(Map.of("status", "ok")));
        routes.get("/health/ready", this::ready);
        routes.get("/health/storage", ctx -> {
            Optional<Principal> caller = ctx.header("Authorization") == null ? Optional.empty() : Optional.of(principal(ctx));
            Map<String, Object> report = health.report(caller);
            ctx.status("unhealthy".equals(report.get("status")) ? 503 : 200).json(report);
        });

        routes.put("/v1/tenants/{tenant}", this::putTenant);
        routes.get("/v1/tenants/{tenant}", ctx -> ctx.json(tenantDetail(principal(ctx), tenants.get(principal(ctx), tenant(ctx)))));
        String cache = "/v1/tenants/{tenant}/cache/{type}/<key>";
        routes.put(cache, ctx -> {
            CacheService.CacheEntry entry = caches.put(principal(ctx), tenant(ctx), CacheService.CacheType.parse(ctx.pathParam("type")),
                    ctx.pathParam("key"), RequestBodies.of(ctx), ctx.req().getContentLengthLong());
            quotaWarning(ctx);
            ctx.status(entry.stored() ? 201 : 200).json(cacheJson(entry));
        });
        routes.get(cache, ctx -> {
            CacheService.CacheType type = CacheService.CacheType.parse(ctx.pathParam("type"));
            String reading = ctx.header("X-Builderd-Build");
            if (reading != null) {
                caches.pin(principal(ctx), new BuildRef(tenant(ctx), BuildId.of(reading)), type, java.util.List.of(ctx.pathParam("key")));
            }
            sendCacheRange(ctx, rangeOf -> caches.open(principal(ctx), tenant(ctx), type, ctx.pathParam("key"), rangeOf));
        });
        routes.post(BUILD + "/cache-pins", ctx -> {
            PinsBody body = readJson(ctx, PinsBody.class, null);
            if (body.type() == null || body.keys() == null) {
                throw new InvalidInputException("the body is {\"type\": \"docker-layers|dependencies|git-repos\", \"keys\": [...]}");
            }
            caches.pin(principal(ctx), build(ctx), CacheService.CacheType.parse(body.type()), body.keys());
            ctx.status(204);
        });
        routes.head(cache, ctx -> sendCache(ctx, caches.open(principal(ctx), tenant(ctx),
                CacheService.CacheType.parse(ctx.pathParam("type")), ctx.pathParam("key"), ByteRange.ALL), false));
        routes.delete(cache, ctx -> {
            caches.delete(principal(ctx), tenant(ctx), CacheService.CacheType.parse(ctx.pathParam("type")), ctx.pathParam("key"));
            ctx.status(204);
        });
        routes.get("/v1/tenants/{tenant}/cache-policies", ctx -> ctx.json(Map.of("cache_types",
                caches.types(principal(ctx), tenant(ctx)).stream().map(HttpApi::cacheTypeJson).toList())));
        routes.put("/v1/tenants/{tenant}/cache-policies/{type}", ctx -> {
            CachePolicyBody body = readJson(ctx, CachePolicyBody.class, new CachePolicyBody(null, null, null, null));
            ctx.json(cacheTypeJson(caches.setPolicy(principal(ctx), tenant(ctx), CacheService.CacheType.parse(ctx.pathParam("type")),
                    body.row())));
        });
        routes.post("/v1/tenants/{tenant}/cache-warming", ctx -> {
            WarmBody body = readJson(ctx, WarmBody.class, new WarmBody(null, null, null, null));
            ctx.status(202).json(warmingJson(warming.start(principal(ctx), tenant(ctx), body.request())));
        });
        routes.get("/v1/tenants/{tenant}/cache-warming/{job}", ctx ->
                ctx.json(warmingJson(warming.progress(principal(ctx), tenant(ctx), ctx.pathParam("job")))));
        routes.put("/v1/global/registry-cache/{digest}", ctx -> {
            CacheService.CacheEntry entry = caches.putGlobal(principal(ctx), ctx.pathParam("digest"), RequestBodies.of(ctx),
                    ctx.req().getContentLengthLong());
            ctx.status(entry.stored() ? 201 : 200).json(cacheJson(entry));
        });
        routes.get("/v1/global/registry-cache/{digest}", ctx ->
                sendCacheRange(ctx, rangeOf -> caches.openGlobal(principal(ctx), ctx.pathParam("digest"), rangeOf)));
        String retention = "/v1/tenants/{tenant}/retention-policy";
        routes.get(retention, ctx -> ctx.json(policyJson(this.retention.policy(principal(ctx), tenant(ctx)))));
        routes.put(retention, ctx -> {
            byte[] body = Json.body(ctx);
            if (body.length == 0) {
                throw new InvalidInputException("the request needs a JSON body: the tenant's own values, {} for the tier's policy");
            }
            RetentionPolicy.Overrides overrides = RetentionPolicy.Overrides.parse(body, "the request body");
            ctx.json(policyJson(this.retention.setPolicy(principal(ctx), tenant(ctx), overrides)));
        });
        routes.get(retention + "/dry-run", ctx -> {
            RetentionJanitor.Plan plan = this.retention.dryRun(principal(ctx), tenant(ctx));
            Map<String, Object> json = new LinkedHashMap<>();
            json.put("tenant_id", tenant(ctx).value());
            json.put("policy", plan.policy().toJson());
            json.put("deletions", plan.deletions().stream().map(HttpApi::deletionJson).toList());
            ctx.json(json);
        });
        routes.post(retention + "/run", ctx -> {
            RetentionJanitor.Ran ran = this.retention.run(principal(ctx), tenant(ctx));
            Map<String, Object> json = new LinkedHashMap<>();
            json.put("deleted", ran.deleted().stream().map(HttpApi::deletionJson).toList());
            json.put("failed", ran.failed());
            ctx.status(ran.failed() == 0 ? 200 : 500).json(json);
        });
        routes.get(retention + "/deletions", ctx -> ctx.json(Map.of("deletions",
                this.retention.deletions(principal(ctx), tenant(ctx), limit(ctx)).stream().map(HttpApi::deletionJson).toList())));
        routes.get("/v1/tenants/{tenant}/filesystem", ctx ->
                ctx.json(StorageHealth.isolationJson(tenants.verifyDirectories(principal(ctx), tenant(ctx)))));
        routes.get("/v1/tenants/{tenant}/usage", ctx -> {
            TenantInfo tenant = tenants.get(principal(ctx), tenant(ctx));
            ctx.json(usageJson(quotas.usage(principal(ctx), tenant.id()), tenant.tier()));
        });
        routes.post("/v1/tenants/{tenant}/encryption/rotate", ctx -> {
            RotateBody body = readJson(ctx, RotateBody.class, new RotateBody(false));
            ctx.json(encryptionJson(encryption.rotate(principal(ctx), tenant(ctx), Boolean.TRUE.equals(body.reencrypt())), tenant(ctx)));
        });
        routes.post("/v1/tenants/{tenant}/encryption/reencrypt", ctx ->
                ctx.status(202).json(encryptionJson(encryption.reencrypt(principal(ctx), tenant(ctx)), tenant(ctx))));
        routes.post("/v1/admin/master-key/rotate", ctx -> {
            TenantEncryption.MasterRotation rotation = encryption.rotateMaster(principal(ctx));
            Map<String, Object> json = new LinkedHashMap<>();
            json.put("master_key", rotation.origin());
            json.put("tenant_keysets", rotation.tenantKeysets());
            json.put("not_rewrapped", rotation.notRewrapped().stream().map(TenantId::value).toList());
            json.put("older_master_keys_removed", rotation.olderKeysRemoved());
            ctx.status(rotation.notRewrapped().isEmpty() ? 200 : 500).json(json);
        });
        backupRoutes.register(config);
        routes.post("/v1/admin/scrub", ctx -> ctx.status(202).json(scrubJson(scrub.start(principal(ctx)))));
        routes.get("/v1/admin/scrub", ctx -> ctx.json(scrubJson(scrub.status(principal(ctx)))));
        routes.get("/v1/admin/replication", ctx -> ctx.json(replicationJson(replication(principal(ctx)).status(principal(ctx)))));
        routes.post("/v1/admin/replication/repair", ctx -> ctx.json(repairJson(replication(principal(ctx)).repair(principal(ctx)))));
        routes.get("/metrics", ctx -> {
            principal(ctx).requireAdmin("reading metrics");
            // OpenMetrics when the scraper asks for it (Prometheus does), else the classic text format.
            ExpositionFormatWriter writer = OPEN_METRICS.accepts(ctx.header("Accept")) ? OPEN_METRICS : PROMETHEUS_TEXT;
            ByteArrayOutputStream text = new ByteArrayOutputStream();
            writer.write(text, metrics.scrape());
            ctx.contentType(writer.getContentType()).result(text.toByteArray());
        });
        routes.delete("/v1/tenants/{tenant}", ctx -> {
            tenants.purge(principal(ctx), tenant(ctx));
            ctx.status(204);
        });
        routes.get("/v1/tenants", ctx -> ctx.json(Map.of("tenants",
                tenants.list(principal(ctx)).stream().map(this::tenantJson).toList())));
        routes.post("/v1/tenants/{tenant}/tokens", ctx -> {
            TokenBody body = readJson(ctx, TokenBody.class, new TokenBody(null, null, null));
            Tokens.IssuedToken issued = tenants.issueToken(principal(ctx), tenant(ctx), body.request());
            Map<String, Object> json = tokenJson(issued.info());
            json.put("token", issued.token());
            ctx.status(201).json(json);
        });
        routes.get("/v1/tenants/{tenant}/tokens", ctx -> ctx.json(Map.of("tokens",
                tenants.tokens(principal(ctx), tenant(ctx)).stream().map(HttpApi::tokenJson).toList())));
        routes.delete("/v1/tenants/{tenant}/tokens/{token}", ctx -> {
            tenants.revokeToken(principal(ctx), tenant(ctx), ctx.pathParam("token"));
            ctx.status(204);
        });

        routes.post("/v1/tenants/{tenant}/builds", this::createBuild);
        routes.get("/v1/tenants/{tenant}/builds", ctx -> ctx.json(Map.of("builds",
                builds.list(principal(ctx), tenant(ctx)).stream().map(HttpApi::buildJson).toList())));
        routes.get(BUILD, ctx -> ctx.json(buildJson(builds.get(principal(ctx), build(ctx)))));
        // The build's directories exist only on its host node: 421 elsewhere, naming the host's URL.
        routes.get(BUILD + "/paths", ctx -> ctx.json(pathsJson(builds.paths(principal(ctx), build(ctx)))));
        routes.delete(BUILD, ctx -> {
            builds.delete(principal(ctx), build(ctx));
            ctx.status(204);
        });
        routes.post(BUILD + "/heartbeat", ctx -> {
            LeaseBody body = readJson(ctx, LeaseBody.class, new LeaseBody(null));
            ctx.json(buildJson(builds.renewLease(principal(ctx), build(ctx), lease(body.leaseSeconds()))));
        });
        routes.post(BUILD + "/complete", ctx -> {
            CompleteBody body = readJson(ctx, CompleteBody.class, null);
            ctx.json(buildJson(builds.complete(principal(ctx), build(ctx), BuildStatus.parseFinal(body.status()))));
        });

        routes.get(BUILD + "/artifacts", ctx -> ctx.json(
                ArtifactService.manifest(build(ctx), artifacts.list(principal(ctx), build(ctx)))));
        routes.get(BUILD + "/checksums.sha256", ctx -> ctx.contentType("text/plain; charset=utf-8")
                .result(ArtifactService.checksums(artifacts.list(principal(ctx), build(ctx)))));
        routes.put(BUILD + "/artifacts/{name}", this::uploadArtifact);
        routes.get(BUILD + "/artifacts/{name}", ctx -> sendArtifact(ctx, true));
        routes.head(BUILD + "/artifacts/{name}", ctx -> sendArtifact(ctx, false));
        routes.delete(BUILD + "/artifacts/{name}", ctx -> {
            artifacts.delete(principal(ctx), build(ctx), name(ctx));
            ctx.status(204);
        });
        routes.post(BUILD + "/artifacts/{name}/gzip", ctx -> {
            ArtifactInfo gzipped = artifacts.gzip(principal(ctx), build(ctx), name(ctx));
            quotaWarning(ctx);
            ctx.status(201).json(ArtifactService.describeJson(gzipped));
        });
        routes.post(BUILD + "/artifacts/{name}/import", ctx -> {
            ImportBody body = readJson(ctx, ImportBody.class, null);
            ArtifactInfo imported = artifacts.importFile(principal(ctx), build(ctx), name(ctx), body.from());
            quotaWarning(ctx);
            ctx.status(201).json(ArtifactService.describeJson(imported));
        });

        routes.get(BUILD + "/logs", ctx -> ctx.json(Map.of("logs", logs.list(principal(ctx), build(ctx)).stream()
                .map(log -> Map.of("name", log.name().value(), "size", log.size())).toList())));
        routes.put(BUILD + "/logs/{name}", ctx -> {
            Principal caller = principal(ctx);
            LogService.LogInfo log = logs.put(caller, build(ctx), name(ctx), RequestBodies.of(ctx),
                    ctx.req().getContentLengthLong());
            quotaWarning(ctx);
            ctx.status(201).json(Map.of("name", log.name().value(), "size", log.size()));
        });
        routes.get(BUILD + "/logs/{name}", ctx -> {
            try (InputStream in = logs.open(principal(ctx), build(ctx), name(ctx))) {
                ctx.contentType("text/plain; charset=utf-8");
                copy(in, ctx.res().getOutputStream(), COPY_BUFFER);
            }
        });
    }

    private void ready(Context ctx) {
        boolean up = metadata.isReachable();
        ctx.status(up ? 200 : 503).json(Map.of("status", up ? "ready" : "not ready",
                "metadata", up ? "reachable" : "unreachable"));
    }

    private void putTenant(Context ctx) {
        Principal caller = principal(ctx);
        TenantBody body = readJson(ctx, TenantBody.class, null);
        if (body.tier() == null) {
            throw new InvalidInputException("the body needs \"tier\": one of free, pro, enterprise, dedicated");
        }
        Tier tier = Tier.parse(body.tier());
        Optional<Limits.Overrides> overrides = Optional.ofNullable(body.limits()).map(LimitsBody::overrides);
        overrides.ifPresent(o -> Limits.of(tier, o, Limits.DEFAULT_SOFT_PERCENT, HardLimitAction.REJECT));
        Optional<RateLimits.Overrides> rateOverrides = Optional.ofNullable(body.limits()).map(LimitsBody::rateOverrides);
        rateOverrides.ifPresent(o -> RateLimits.of(tier, o));
        TenantService.Upserted result = tenants.put(caller, tenant(ctx), tier, body.encryption());
        overrides.ifPresent(o -> quotas.setOverrides(caller, tenant(ctx), o));
        rateOverrides.ifPresent(o -> quotas.setRateOverrides(caller, tenant(ctx), o));
        rateLimits.ifPresent(limits -> limits.forget(tenant(ctx)));
        ctx.status(result.created() ? 201 : 200).json(tenantJson(result.tenant()));
    }

    private void createBuild(Context ctx) {
        Principal caller = principal(ctx);
        BuildBody body = readJson(ctx, BuildBody.class, new BuildBody(null, null));
        Optional<BuildId> requested = Optional.ofNullable(body.buildId()).map(BuildId::of);
        BuildService.BuildView view = builds.create(caller, tenant(ctx), requested, lease(body.leaseSeconds()));
        ctx.status(201).json(buildJson(view));
    }

    private void uploadArtifact(Context ctx) throws IOException {
        Principal caller = principal(ctx);
        BuildRef ref = build(ctx);
        FileName name = name(ctx);
        ArtifactInfo info = artifacts.upload(caller, ref, name, RequestBodies.of(ctx),
                ctx.req().getContentLengthLong(), ctx.header("X-Checksum-Sha256"));
        ctx.header("ETag", etag(info));
        quotaWarning(ctx);
        ctx.status(201).json(ArtifactService.describeJson(info));
    }

    /** A token as the API shows it: never its secret. */
    private static Map<String, Object> tokenJson(Tokens.TokenInfo token) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("token_id", token.tokenId());
        json.put("tenant_id", token.tenant().value());
        json.put("scope", token.scope().wireName());
        token.build().ifPresent(build -> json.put("build_id", build.value()));
        json.put("created_at", token.created().toString());
        token.expires().ifPresent(at -> json.put("expires_at", at.toString()));
        token.revoked().ifPresent(at -> json.put("revoked_at", at.toString()));
        return json;
    }

    private static Map<String, Object> cacheJson(CacheService.CacheEntry entry) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("type", entry.type());
        json.put("key", entry.key());
        json.put("size", entry.size());
        entry.sha256().ifPresent(sha -> json.put("sha256", sha));
        json.put("stored", entry.stored());
        return json;
    }

    /** The replication, for the admin; 404 where none is configured. */
    private Replication replication(Principal caller) {
        caller.requireAdmin("managing replication");
        return replication.orElseThrow(() -> new NotFoundException(
                "replication is not configured: set UNKEY_BUILDERD_REPLICA_TARGET to replicate to a second backend"));
    }

    private static Map<String, Object> replicationJson(Replication.Status status) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("replicas", status.replicas());
        json.put("pending", status.pending());
        json.put("lag_seconds", status.lag().toMillis() / 1000.0);
        json.put("lag_bytes", status.pendingBytes());
        json.put("failing", status.failing());
        json.put("deferred_deletes", status.deferredDeletes());
        json.put("delete_delay_seconds", status.deleteDelay().toSeconds());
        json.put("failures", status.failures().stream().<Map<String, Object>>map(entry -> {
            Map<String, Object> failure = new LinkedHashMap<>();
            failure.put("key", entry.key());
            failure.put("attempts", entry.attempts());
            failure.put("next_attempt_at", java.time.Instant.ofEpochMilli(entry.nextAttemptAt()).toString());
            entry.lastError().ifPresent(error -> failure.put("last_error", error));
            return failure;
        }).toList());
        json.put("repair_running", status.repairRunning());
        status.lastRepair().ifPresent(repair -> json.put("last_repair", repairJson(repair)));
        return json;
    }

    private static Map<String, Object> repairJson(Replication.Repair repair) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("primary_blobs", repair.primaryBlobs());
        json.put("replica_blobs", repair.secondaryBlobs());
        json.put("missing_in_replica", repair.missingInReplica());
        json.put("size_differs", repair.sizeDiffers());
        json.put("only_in_replica", repair.onlyInReplica());
        json.put("divergences", repair.divergences());
        json.put("started_at", repair.started().toString());
        json.put("finished_at", repair.finished().toString());
        return json;
    }

    private static Map<String, Object> scrubJson(IntegrityScrub.Status pass) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("state", pass.state());
        json.put("blobs_checked", pass.blobsChecked());
        json.put("bytes_checked", pass.bytesChecked());
        json.put("corrupt_found", pass.corruptFound());
        json.put("repaired", pass.repaired());
        pass.started().ifPresent(at -> json.put("started_at", at.toString()));
        pass.finished().ifPresent(at -> json.put("finished_at", at.toString()));
        pass.error().ifPresent(error -> json.put("error", error));
        json.put("corrupt", StorageHealth.findingsJson(pass.findings()));
        return json;
    }

    private static Map<String, Object> warmingJson(CacheWarming.Progress job) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("id", job.id());
        json.put("tenant_id", job.tenant().value());
        json.put("source", job.source());
        json.put("state", job.state());
        json.put("total", job.total());
        json.put("fetched", job.fetched());
        json.put("already_local", job.alreadyLocal());
        json.put("missing", job.missing());
        json.put("failed", job.failed());
        json.put("bytes_fetched", job.bytes());
        json.put("started_at", job.started().toString());
        job.finished().ifPresent(at -> json.put("finished_at", at.toString()));
        job.error().ifPresent(error -> json.put("error", error));
        return json;
    }

    private static Map<String, Object> cacheTypeJson(CacheService.TypeState state) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("type", state.type().wireName());
        json.put("size_bytes", state.usage().bytes());
        json.put("entries", state.usage().entries());
        json.put("max_size_bytes", state.policy().maxSizeBytes());
        json.put("eviction_policy", state.policy().order().name().toLowerCase(java.util.Locale.ROOT));
        json.put("min_retention_seconds", state.policy().minRetention().toSeconds());
        json.put("max_retention_seconds", state.policy().maxRetention().toSeconds());
        Map<String, Object> set = new LinkedHashMap<>();
        state.set().maxSizeBytes().ifPresent(v -> set.put("max_size_bytes", v));
        state.set().order().ifPresent(v -> set.put("eviction_policy", v.name().toLowerCase(java.util.Locale.ROOT)));
        state.set().minRetentionSeconds().ifPresent(v -> set.put("min_retention_seconds", v));
        state.set().maxRetentionSeconds().ifPresent(v -> set.put("max_retention_seconds", v));
        json.put("set_for_tenant", set);
        return json;
    }

    /** Sends a cache entry, or the part of it that was opened (206); the stream is closed either way. */
    private void sendCache(Context ctx, CacheService.CacheRead read, boolean withBody) throws IOException {
        try (InputStream in = read.content()) {
            long length = read.range().lengthWithin(read.size());
            ctx.contentType("application/octet-stream");
            ctx.header("Accept-Ranges", "bytes");
            if (!read.range().isAll()) {
                ctx.status(206);
                ctx.header("Content-Range", "bytes " + read.range().offset() + "-" + (read.range().offset() + length - 1) + "/" + read.size());
            }
            ctx.res().setContentLengthLong(length);
            if (!withBody) {
                return;
            }
            sendStream(in, length, ctx.res().getOutputStream());
        }
    }

    /**
     * Sends the part of a cache entry that the request's {@code Range} header asks for (all of it
     * without one); 416 when the range starts past its end.
     */
    private void sendCacheRange(Context ctx, Function<LongFunction<ByteRange>, CacheService.CacheRead> open) throws IOException {
        String header = ctx.header("Range");
        CacheService.CacheRead read;
        try {
            read = open.apply(size -> {
                try {
                    return RangeRequest.parse(header, size).orElse(ByteRange.ALL);
                } catch (RangeRequest.Unsatisfiable e) {
                    throw new UnsatisfiableRange(size);
                }
            });
        } catch (UnsatisfiableRange e) {
            ctx.header("Content-Range", "bytes */" + e.size);
            Problems.respond(ctx, Problems.RANGE_NOT_SATISFIABLE, "the cache entry has " + e.size
                    + " bytes; the requested range starts past its end");
            return;
        }
        sendCache(ctx, read, true);
    }

    /** Carries a range the entry cannot satisfy out of the size callback. */
    private static final class UnsatisfiableRange extends RuntimeException {
        private final long size;

        UnsatisfiableRange(long size) {
            super(null, null, false, false);
            this.size = size;
        }
    }

    /** After a write: {@code X-Quota-Warning} when the tenant is at or past its soft limit. */
    private void quotaWarning(Context ctx) {
        quotas.warning(tenant(ctx)).ifPresent(warning -> ctx.header("X-Quota-Warning", warning));
    }

    private void sendArtifact(Context ctx, boolean withBody) throws IOException {
        ArtifactHandle artifact = artifacts.describe(principal(ctx), build(ctx), name(ctx));
        ArtifactInfo info = artifact.info();
        String etag = etag(info);
        ctx.header("ETag", etag);
        ctx.header("Accept-Ranges", "bytes");
        ctx.header("X-Checksum-Sha256", info.sha256());
        String ifNoneMatch = ctx.header("If-None-Match");
        if (ifNoneMatch != null && (ifNoneMatch.strip().equals("*") || ifNoneMatch.contains(etag))) {
            ctx.status(304);
            return;
        }
        ByteRange range;
        try {
            range = RangeRequest.parse(ctx.header("Range"), info.size()).orElse(ByteRange.ALL);
        } catch (RangeRequest.Unsatisfiable e) {
            ctx.header("Content-Range", "bytes */" + info.size());
            Problems.respond(ctx, Problems.RANGE_NOT_SATISFIABLE, "the artifact has " + info.size()
                    + " bytes; the requested range starts past its end");
            return;
        }
        long length = range.lengthWithin(info.size());
        // Open before the status and Content-Length are set: if opening fails, the problem
        // response must not go out under the artifact's 206 and Content-Length.
        try (Body body = withBody ? openBody(artifact, range.offset(), length, ctx.res().getOutputStream()) : null) {
            if (!range.isAll()) {
                ctx.status(206);
                ctx.header("Content-Range", "bytes " + range.offset() + "-" + (range.offset() + length - 1) + "/" + info.size());
            }
            ctx.contentType("application/octet-stream");
            ctx.res().setContentLengthLong(length);
            if (body != null) {
                body.send();
            }
        }
    }

    /** A response body, opened and ready to be sent. */
    private interface Body extends AutoCloseable {
        void send() throws IOException;

        @Override
        void close() throws IOException;
    }

    /**
     * Large local files, and large local blobs the store decrypts into buffers of its own, go out
     * through {@link FileSender}; everything else is copied as a stream.
     */
    private Body openBody(ArtifactHandle artifact, long offset, long length, OutputStream out) {
        if (length >= LARGE_RESPONSE && out instanceof HttpOutput jetty) {
            Optional<FileChannel> channel = artifact.openFileChannel();
            if (channel.isPresent()) {
                FileChannel file = channel.get();
                return new Body() {
                    @Override
                    public void send() throws IOException {
                        fileSender.send(file, offset, length, jetty);
                    }

                    @Override
                    public void close() throws IOException {
                        file.close();
                    }
                };
            }
            Optional<BufferStream> buffers = artifact.openBuffers(new ByteRange(offset, length));
            if (buffers.isPresent()) {
                BufferStream decrypted = buffers.get();
                return new Body() {
                    @Override
                    public void send() throws IOException {
                        fileSender.send(decrypted, jetty);
                    }

                    @Override
                    public void close() throws IOException {
                        decrypted.close();
                    }
                };
            }
        }
        InputStream in = artifact.open(new ByteRange(offset, length));
        return new Body() {
            @Override
            public void send() throws IOException {
                sendStream(in, length, out);
            }

            @Override
            public void close() throws IOException {
                in.close();
            }
        };
    }

    /** Sends a stream body: a large one through {@link FileSender}'s direct buffers, a small one copied. */
    private void sendStream(InputStream in, long length, OutputStream out) throws IOException {
        if (length >= LARGE_RESPONSE && out instanceof HttpOutput jetty) {
            fileSender.send(in, jetty);
        } else {
            copy(in, out, length);
        }
    }

    /** Copies {@code in} to {@code out} through a buffer no larger than {@code expectedLength} needs. */
    private static void copy(InputStream in, OutputStream out, long expectedLength) throws IOException {
        byte[] buffer = new byte[(int) Math.clamp(expectedLength, 1, COPY_BUFFER)];
        int n;
        while ((n = in.read(buffer)) >= 0) {
            out.write(buffer, 0, n);
        }
        out.flush();
    }

    /**
     * Who a request names, for the fairness limits, before it reaches the routes: its token if it
     * is accepted, else the tenant its client certificate names; empty otherwise (the route then
     * answers 401 and counts the failure).
     */
    private Optional<Principal> authenticated(org.eclipse.jetty.server.Request request) {
        String header = request.getHeaders().get(org.eclipse.jetty.http.HttpHeader.AUTHORIZATION);
        try {
            if (header == null || header.isBlank()) {
                return ClientCertificates.principal(request);
            }
            PresentedToken presented = presentedToken(header, true);
            // An address refused for its failures is not looked up here either; its route answers 429.
            authFailures.requireAllowed(org.eclipse.jetty.server.Request.getRemoteAddr(request));
            Tokens.Authentication result = tokens.authenticate(presented.token());
            // The route reuses this lookup (authenticate); which scheme it accepts is still its own check.
            request.setAttribute(LOOKUP, new Lookup(presented.token(), result));
            return result instanceof Tokens.Authentication.Accepted accepted ? Optional.of(accepted.principal()) : Optional.empty();
        } catch (Unauthenticated | ForbiddenException | AuthFailureLimiter.Blocked e) {
            return Optional.empty();
        }
    }

    private Principal principal(Context ctx) {
        return caller(ctx, false);
    }

    /**
     * Authenticates a request by its token: {@code Authorization: Bearer <token>}, or, where
     * {@code basicAccepted}, HTTP Basic credentials whose password is the token (the user name is
     * not checked: the token alone says who calls, and the tenant in the path must be its own).
     *
     * <p>Basic is accepted only by the build-tool cache protocols ({@link BuildToolCaches}),
     * because Gradle, and Bazel and ccache given credentials in a URL, can send nothing else. The
     * rest of the API stays Bearer-only: browsers remember Basic credentials and send them to
     * every later request of the origin by themselves, which would let any page a person opens
     * drive the admin and tenant routes with their credentials; a Bearer token is only ever sent
     * on purpose.
     */
    private Principal caller(Context ctx, boolean basicAccepted) {
        if (ctx.attribute(CALLER) instanceof Principal known) {
            return known;
        }
        String header = ctx.header("Authorization");
        Principal caller;
        if (header == null || header.isBlank()) {
            // Without a token, a client certificate may name the tenant (docs/security-transport.md).
            caller = ClientCertificates.principal(ctx.req()).orElseThrow(() -> new Unauthenticated(basicAccepted
                    ? "this request needs an 'Authorization: Bearer <token>' header, or Basic credentials whose password is the token"
                    : "this request needs an 'Authorization: Bearer <token>' header", basicAccepted));
        } else {
            PresentedToken presented = presentedToken(header, basicAccepted);
            caller = authenticate(ctx, presented.token(), presented.source(), basicAccepted);
        }
        ctx.attribute(CALLER, caller);
        return caller;
    }

    /**
     * A token as an Authorization header presents it.
     *
     * @param source where it came from, for a refusal's message ("" for the Bearer header)
     */
    private record PresentedToken(String token, String source) {
    }

    /** The token of a Bearer header, or (where {@code basicAccepted}) the password of Basic credentials. */
    private static PresentedToken presentedToken(String header, boolean basicAccepted) {
        if (basicAccepted && header.regionMatches(true, 0, "Basic ", 0, 6)) {
            return new PresentedToken(basicPassword(header.substring(6).strip()), "the password of the Basic credentials: ");
        }
        if (header.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return new PresentedToken(header.substring(7).strip(), "");
        }
        throw new Unauthenticated(basicAccepted ? "the Authorization header must use the Bearer or the Basic scheme"
                : "the Authorization header must use the Bearer scheme", basicAccepted);
    }

    /**
     * Checks a token presented by the request's client; a client address that presented too many
     * refused tokens lately is refused first, without a lookup ({@link AuthFailureLimiter}).
     *
     * @param source where the token came from, for the refusal's message ("" for the Bearer header)
     */
    private Principal authenticate(Context ctx, String token, String source, boolean basicAccepted) {
        String address = ctx.req().getRemoteAddr();
        authFailures.requireAllowed(address);
        Tokens.Authentication result = ctx.attribute(LOOKUP) instanceof Lookup lookup && lookup.token().equals(token)
                ? lookup.result() : tokens.authenticate(token);
        return switch (result) {
            case Tokens.Authentication.Accepted accepted -> accepted.principal();
            case Tokens.Authentication.Refused refused -> {
                authFailures.failed(address);
                throw new Unauthenticated(source + refused.reason(), basicAccepted);
            }
        };
    }

    /**
     * The password of Basic credentials, base64 of {@code user:password}. Bazel encodes a URL's
     * user info with the URL-safe alphabet, so that is read too ({@code -} and {@code _} never
     * occur in the standard one).
     */
    static String basicPassword(String credentials) {
        String decoded;
        try {
            decoded = new String(Base64.getDecoder().decode(credentials.replace('-', '+').replace('_', '/')), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw new Unauthenticated("the Basic credentials are not base64 of user:password", true);
        }
        int colon = decoded.indexOf(':');
        if (colon < 0) {
            throw new Unauthenticated("the Basic credentials are not base64 of user:password", true);
        }
        return decoded.substring(colon + 1);
    }

    private static <T> T readJson(Context ctx, Class<T> type, T empty) {
        return Json.read(ctx, type, empty);
    }


    /** The {@code limit} query parameter: 100 when absent. */
    private static int limit(Context ctx) {
        String limit = ctx.queryParam("limit");
        if (limit == null) {
            return 100;
        }
        try {
            return Integer.parseInt(limit);
        } catch (NumberFormatException e) {
            throw new InvalidInputException("the query parameter limit must be a whole number from 1 to " + RetentionJanitor.MAX_LIMIT);
        }
    }

    private static Map<String, Object> policyJson(RetentionJanitor.PolicyView view) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("tenant_id", view.tenant().value());
        json.put("tier", view.tier().wireName());
        json.put("policy", view.policy().toJson());
        json.put("tier_defaults", view.tierDefaults().toJson());
        json.put("overrides", view.overrides().toJson());
        return json;
    }

    private static Map<String, Object> deletionJson(JanitorDeletion deletion) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("build_id", deletion.build().build().value());
        json.put("kind", deletion.kind().wireName());
        if (!deletion.item().isEmpty()) {
            json.put("item", deletion.item());
        }
        json.put("reason", deletion.reason());
        json.put("bytes", deletion.bytes());
        json.put("at", deletion.at().toString());
        return json;
    }

    private static Duration lease(Long seconds) {
        return seconds == null ? null : Duration.ofSeconds(seconds);
    }

    private static TenantId tenant(Context ctx) {
        return TenantId.of(ctx.pathParam("tenant"));
    }

    private static BuildRef build(Context ctx) {
        return new BuildRef(tenant(ctx), BuildId.of(ctx.pathParam("build")));
    }

    private static FileName name(Context ctx) {
        return FileName.of(ctx.pathParam("name"));
    }

    private static String etag(ArtifactInfo info) {
        return "\"" + info.sha256() + "\"";
    }

    private static Map<String, Object> limitsJson(Limits limits, Tier tier) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("total_bytes", limits.totalBytes());
        json.put("artifact_bytes", limits.artifactBytes());
        json.put("cache_bytes", limits.cacheBytes());
        json.put("concurrent_builds", limits.concurrentBuilds());
        json.put("retention_days", tier.retention().toDays());
        json.put("soft_limit_percent", limits.softPercent());
        json.put("hard_limit_action", limits.action().wireName());
        return json;
    }

    /** The tenant's usage: per category, against its limits, and where it stands. */
    private Map<String, Object> usageJson(Usage usage, Tier tier) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("tenant_id", usage.tenant().value());
        json.put("state", usage.state());
        json.put("used_bytes", usage.usedBytes());
        json.put("reserved_bytes", usage.reservedBytes());
        json.put("limit_bytes", usage.limits().totalBytes());
        json.put("usage_ratio", usage.ratio());
        json.put("soft_limit_bytes", usage.limits().soft(usage.limits().totalBytes()));
        Map<String, Object> categories = new LinkedHashMap<>();
        usage.lines().forEach((category, line) -> {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("used_bytes", line.used());
            entry.put("reserved_bytes", line.reserved());
            usage.limits().of(category).ifPresent(limit -> {
                entry.put("limit_bytes", limit);
                entry.put("usage_ratio", limit == 0 ? 0.0 : (double) line.used() / limit);
            });
            entry.put("measured", category.scanned() ? "scanned" : "counted");
            categories.put(category.wireName(), entry);
        });
        json.put("categories", categories);
        json.put("limits", limitsJson(usage.limits(), tier));
        ProjectQuotaSupport kernel = ProjectQuotaSupport.of(layout.workspaceRoot());
        json.put("kernel_project_quota", Map.of("available", kernel.available(), "mount_point", kernel.mountPoint(),
                "filesystem", kernel.filesystem()));
        return json;
    }

    /** The tenant with its encryption status (keys, re-encryption progress, the workspace volume). */
    private Map<String, Object> tenantDetail(Principal caller, TenantInfo tenant) {
        Map<String, Object> json = tenantJson(tenant);
        json.put("encryption_status", encryptionJson(encryption.status(caller, tenant.id()), tenant.id()));
        return json;
    }

    private Map<String, Object> encryptionJson(TenantEncryption.Status status, TenantId tenant) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("enabled", status.enabled());
        status.unavailable().ifPresent(reason -> json.put("keys_unavailable", reason));
        status.keys().ifPresent(keys -> {
            json.put("algorithm", "AES-256-GCM (Tink streaming AEAD, HKDF-SHA256, 256 KiB segments)");
            json.put("keys", keys.keys());
            json.put("primary_key_id", keys.primaryKeyId());
            json.put("primary_key_created", keys.primarySince().toString());
            json.put("plaintext_may_remain", keys.acceptsPlaintext());
        });
        status.nextRotation().ifPresent(next -> json.put("next_rotation", next.toString()));
        status.reencryption().ifPresent(job -> {
            Map<String, Object> progress = new LinkedHashMap<>();
            progress.put("state", job.state().wireName());
            progress.put("blobs_total", job.blobsTotal());
            progress.put("blobs_done", job.blobsDone());
            progress.put("blobs_rewritten", job.blobsRewritten());
            progress.put("bytes_rewritten", job.bytesRewritten());
            progress.put("blobs_waiting_for_busy_builds", job.blobsWaiting());
            progress.put("started", job.started().toString());
            job.finished().ifPresent(at -> progress.put("finished", at.toString()));
            job.error().ifPresent(error -> progress.put("error", error));
            json.put("reencryption", progress);
        });
        VolumeEncryption workspace = VolumeEncryption.of(layout.tenantDirectory(layout.workspaceRoot(), tenant));
        Map<String, Object> volume = new LinkedHashMap<>();
        volume.put("encrypted", workspace.encrypted());
        volume.put("method", workspace.method());
        volume.put("mount_point", workspace.mountPoint());
        volume.put("note", "workspace/ and temp/ are plain directories build processes write into; builderd cannot encrypt"
                + " them itself: see docs/encryption.md (dm-crypt/LUKS or fscrypt per tenant mount)");
        json.put("workspace_volume", volume);
        return json;
    }

    private Map<String, Object> tenantJson(TenantInfo tenant) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("tenant_id", tenant.id().value());
        json.put("tier", tenant.tier().wireName());
        json.put("encryption", tenant.encryption());
        json.put("limits", limitsJson(quotas.limits(tenant), tenant.tier()));
        RateLimits rate = quotas.rateLimits(tenant);
        json.put("rate_limits", Map.of("requests_per_second", rate.requestsPerSecond(), "bytes_per_second", rate.bytesPerSecond(),
                "concurrent_requests", rate.concurrentRequests()));
        json.put("created", tenant.created().toString());
        json.put("updated", tenant.updated().toString());
        return json;
    }

    private static Map<String, Object> buildJson(BuildService.BuildView view) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("tenant_id", view.build().ref().tenant().value());
        json.put("build_id", view.build().ref().build().value());
        json.put("status", view.build().status().wireName());
        if (view.build().isActive()) {
            json.put("over_quota", view.build().overQuota());
        }
        view.build().failureReason().ifPresent(reason -> json.put("failure_reason", reason));
        json.put("created", view.build().created().toString());
        view.build().completed().ifPresent(completed -> json.put("completed", completed.toString()));
        if (view.build().isActive()) {
            json.put("lease_expires", view.build().leaseExpires().toString());
        }
        view.build().hostNode().ifPresent(host -> json.put("host_node", host));
        // Directories are local to the host node: shown there only; elsewhere, where the host is.
        view.paths().ifPresent(paths -> json.put("paths", pathsJson(paths)));
        view.hostUrl().ifPresent(url -> json.put("host_url", url));
        return json;
    }

    private static Map<String, String> pathsJson(dev.builderd.storage.core.Layout.BuildPaths buildPaths) {
        Map<String, String> paths = new LinkedHashMap<>();
        paths.put("workspace", buildPaths.workspace().toString());
        paths.put("rootfs", buildPaths.rootfs().toString());
        paths.put("temp", buildPaths.temp().toString());
        paths.put("logs", buildPaths.logs().toString());
        paths.put("metadata", buildPaths.metadata().toString());
        return paths;
    }

    /** No valid credentials: answered with 401. */
    static final class Unauthenticated extends RuntimeException {
        /** Whether the route also takes Basic credentials, so that the 401 challenges for them too. */
        final boolean basicAccepted;

        Unauthenticated(String message, boolean basicAccepted) {
            super(message, null, false, false);
            this.basicAccepted = basicAccepted;
        }
    }
}
