package dev.builderd.storage.server.http;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.builderd.storage.core.BackupService;
import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.metadata.BackupRows;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import io.javalin.config.JavalinConfig;
import io.javalin.http.Context;
import java.io.IOException;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * The admin API of backups under {@code /v1/admin/backups}: start a backup, verify, restore or
 * prune (each a job, answered with 202 and the job), follow jobs, list snapshots. Without a
 * backup target every route answers 404 saying how to configure one.
 */
final class BackupRoutes {

    private static final String BASE = "/v1/admin/backups";
    private static final ObjectMapper RESULTS = new ObjectMapper();

    private final Optional<BackupService> backups;
    private final Function<Context, Principal> principal;

    BackupRoutes(Optional<BackupService> backups, Function<Context, Principal> principal) {
        this.backups = backups;
        this.principal = principal;
    }

    private record CreateBody(String tenant) {
    }

    private record VerifyBody(String tenant, String snapshot) {
    }

    private record RestoreBody(String tenant, String snapshot, String at, String build, String artifact, String into) {
        BackupService.RestoreRequest request() {
            if (tenant == null) {
                throw new InvalidInputException("a restore names its \"tenant\" (and optionally \"snapshot\" or \"at\", \"build\","
                        + " \"artifact\", \"into\")");
            }
            return new BackupService.RestoreRequest(TenantId.of(tenant), Optional.ofNullable(snapshot), Optional.ofNullable(at).map(BackupRoutes::instant),
                    Optional.ofNullable(build).map(BuildId::of), Optional.ofNullable(artifact).map(FileName::of),
                    Optional.ofNullable(into).map(TenantId::of));
        }
    }

    private record PruneBody(@JsonProperty("keep_last") Integer keepLast, @JsonProperty("keep_daily") Integer keepDaily,
            @JsonProperty("keep_weekly") Integer keepWeekly, @JsonProperty("keep_monthly") Integer keepMonthly) {
    }

    private static Instant instant(String text) {
        try {
            return Instant.parse(text);
        } catch (DateTimeParseException e) {
            throw new InvalidInputException("\"at\" must be a UTC time such as 2026-11-26T03:00:00Z; was '"
                    + text.replaceAll("\\p{Cntrl}", "?") + "'");
        }
    }

    void register(JavalinConfig config) {
        var routes = config.routes;
        routes.post(BASE, ctx -> {
            CreateBody body = Json.read(ctx, CreateBody.class, new CreateBody(null));
            ctx.status(202).json(runJson(service(ctx).startBackup(principal.apply(ctx), Optional.ofNullable(body.tenant()).map(TenantId::of))));
        });
        routes.get(BASE + "/snapshots", ctx -> ctx.json(service(ctx).snapshots(principal.apply(ctx),
                Optional.ofNullable(ctx.queryParam("tenant")).map(TenantId::of)).stream().map(BackupRoutes::snapshotJson).toList()));
        routes.post(BASE + "/verify", ctx -> {
            VerifyBody body = Json.read(ctx, VerifyBody.class, new VerifyBody(null, null));
            ctx.status(202).json(runJson(service(ctx).startVerify(principal.apply(ctx), Optional.ofNullable(body.tenant()).map(TenantId::of),
                    Optional.ofNullable(body.snapshot()))));
        });
        routes.post(BASE + "/restore", ctx -> {
            RestoreBody body = Json.read(ctx, RestoreBody.class, null);
            ctx.status(202).json(runJson(service(ctx).startRestore(principal.apply(ctx), body.request())));
        });
        routes.post(BASE + "/prune", ctx -> {
            PruneBody body = Json.read(ctx, PruneBody.class, new PruneBody(null, null, null, null));
            BackupService.Retention retention = service(ctx).retention();
            BackupService.Retention keep = new BackupService.Retention(
                    Optional.ofNullable(body.keepLast()).orElse(retention.keepLast()),
                    Optional.ofNullable(body.keepDaily()).orElse(retention.keepDaily()),
                    Optional.ofNullable(body.keepWeekly()).orElse(retention.keepWeekly()),
                    Optional.ofNullable(body.keepMonthly()).orElse(retention.keepMonthly()));
            ctx.status(202).json(runJson(service(ctx).startPrune(principal.apply(ctx), keep)));
        });
        routes.get(BASE + "/jobs", ctx -> ctx.json(service(ctx).runs(principal.apply(ctx), 50).stream().map(BackupRoutes::runJson).toList()));
        routes.get(BASE + "/jobs/{job}", ctx -> ctx.json(runJson(service(ctx).run(principal.apply(ctx), ctx.pathParam("job")))));
    }

    private BackupService service(Context ctx) {
        principal.apply(ctx).requireAdmin("managing backups");
        return backups.orElseThrow(() -> new NotFoundException("backups are not configured on this daemon: set"
                + " UNKEY_BUILDERD_BACKUP_TARGET (see docs/backups.md)"));
    }

    static Map<String, Object> runJson(BackupRows.Run run) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("id", run.runId());
        json.put("kind", run.kind());
        json.put("scope", run.scope());
        json.put("state", run.state());
        json.put("node", run.node());
        json.put("started_at", run.startedAt().toString());
        json.put("heartbeat_at", run.heartbeatAt().toString());
        run.finishedAt().ifPresent(at -> json.put("finished_at", at.toString()));
        json.put("objects_total", run.objectsTotal());
        json.put("objects_done", run.objectsDone());
        json.put("bytes_done", run.bytesDone());
        json.put("bytes_copied", run.bytesCopied());
        run.result().ifPresent(result -> {
            try {
                json.put("result", RESULTS.readTree(result));
            } catch (IOException notJson) {
                json.put("result", result);
            }
        });
        return json;
    }

    private static Map<String, Object> snapshotJson(BackupService.Snapshot snapshot) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("tenant_id", snapshot.tenant().value());
        json.put("id", snapshot.id());
        json.put("taken_at", snapshot.takenAt().toString());
        json.put("tier", snapshot.tier().wireName());
        json.put("encryption", snapshot.encryption());
        json.put("builds", snapshot.builds());
        json.put("objects", snapshot.objects());
        json.put("bytes", snapshot.bytes());
        json.put("copied_objects", snapshot.copiedObjects());
        json.put("copied_bytes", snapshot.copiedBytes());
        json.put("skipped", snapshot.skipped());
        return json;
    }
}
