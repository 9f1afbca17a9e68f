package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.builderd.storage.server.DaemonFixture.Response;
import java.io.ByteArrayInputStream;
import java.net.http.HttpRequest.BodyPublishers;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** Quotas through the HTTP API: exact limits under concurrency, 507 with figures, warnings, bad uploads, changed limits. */
@ParameterizedClass
@EnumSource(MetadataKind.class)
class QuotasHttpTest extends HttpApiTestBase {

    private static final int MIB = 1 << 20;

    /** Build directories are measured every second here, so the scanner's effects show quickly. */
    @Override
    Map<String, String> backendEnvironment() {
        return Map.of("UNKEY_BUILDERD_QUOTA_CHECK_SECONDS", "1");
    }

    private String tenantWithLimits(String tenant, String limits) {
        Response created = put("/v1/tenants/" + tenant, ADMIN, "{\"tier\":\"pro\",\"limits\":" + limits + "}");
        assertThat(created.status()).as("%s", created).isIn(200, 201);
        return token(tenant);
    }

    private JsonNode usage(String tenant, String token) {
        Response usage = get("/v1/tenants/" + tenant + "/usage", token);
        assertThat(usage.status()).as("%s", usage).isEqualTo(200);
        return usage.json();
    }

    @Test
    void sixtyFourConcurrentUploadsIntoATenantTenMibShortOfItsLimitNeverOvershoot() throws Exception {
        // 64 requests in flight at once: above the pro tier's fairness limit, raised for this tenant.
        String token = tenantWithLimits("acme", "{\"total_bytes\":" + 30 * MIB + ",\"artifact_bytes\":" + 20 * MIB
                + ",\"concurrent_requests\":64}");
        build("acme", token, "b1");
        assertThat(upload("acme", token, "b1", "base.img", bytes(1, 10 * MIB)).status()).isEqualTo(201);

        ExecutorService pool = Executors.newFixedThreadPool(64);
        List<CompletableFuture<Response>> uploads = new ArrayList<>();
        try {
            for (int i = 0; i < 64; i++) {
                String name = "part-" + i + ".img";
                byte[] content = bytes(100 + i, MIB);
                uploads.add(CompletableFuture.supplyAsync(() -> upload("acme", token, "b1", name, content), pool));
            }
        } finally {
            pool.shutdown();
        }
        int stored = 0;
        for (CompletableFuture<Response> upload : uploads) {
            Response response = upload.get();
            if (response.status() == 201) {
                stored++;
            } else {
                assertProblem(response, 507, "artifacts quota");
            }
        }

        assertThat(stored).isEqualTo(10);
        JsonNode usage = usage("acme", token);
        JsonNode artifacts = usage.get("categories").get("artifacts");
        assertThat(artifacts.get("used_bytes").asLong()).isEqualTo(20L * MIB);
        assertThat(artifacts.get("reserved_bytes").asLong()).isZero();
        assertThat(usage.get("state").asText()).isEqualTo("hard");
        long listed = 0;
        for (JsonNode artifact : get(buildPath("acme", "b1") + "/artifacts", token).json().get("artifacts")) {
            listed += artifact.get("size").asLong();
        }
        assertThat(listed).as("the ledger matches the artifacts").isEqualTo(20L * MIB);
        assertThat(uploadTempFiles(dataRoot)).isEmpty();
    }

    @Test
    void aRefusalIs507WithTheLimitTheUsageAndWhatWouldFreeSpace() {
        String token = tenantWithLimits("acme", "{\"artifact_bytes\":" + 2 * MIB + "}");
        build("acme", token, "b1");
        upload("acme", token, "b1", "a.img", bytes(1, MIB + 1000));

        Response refused = upload("acme", token, "b1", "b.img", bytes(2, MIB));

        assertProblem(refused, 507, "artifacts quota", String.valueOf(2 * MIB), "DELETE /v1/tenants/acme/builds/");
        JsonNode quota = refused.json().get("quota");
        assertThat(quota.get("scope").asText()).isEqualTo("artifacts");
        assertThat(quota.get("limit_bytes").asLong()).isEqualTo(2L * MIB);
        assertThat(quota.get("used_bytes").asLong()).isEqualTo(MIB + 1000L);
        assertThat(quota.get("requested_bytes").asLong()).isEqualTo(MIB);
        assertThat(get(artifactPath("acme", "b1", "b.img"), token).status()).isEqualTo(404);
    }

    @Test
    void passingTheSoftLimitIsSaidInEveryWriteResponse() {
        String token = tenantWithLimits("acme", "{\"total_bytes\":" + 10 * MIB + ",\"soft_limit_percent\":50}");
        build("acme", token, "b1");

        Response below = upload("acme", token, "b1", "a.img", bytes(1, 4 * MIB));
        Response above = upload("acme", token, "b1", "b.img", bytes(2, 2 * MIB));
        Response log = put(buildPath("acme", "b1") + "/logs/build.log", token, "line\n");

        assertThat(below.header("X-Quota-Warning")).isEmpty();
        assertThat(above.header("X-Quota-Warning")).hasValueSatisfying(w -> assertThat(w).contains("total 60.0% of " + 10 * MIB));
        assertThat(log.header("X-Quota-Warning")).isPresent();
        assertThat(usage("acme", token).get("state").asText()).isEqualTo("soft");
    }

    @Test
    void aChunkedUploadThatPassesTheLimitStopsThereAndKeepsNothing() {
        String token = tenantWithLimits("acme", "{\"artifact_bytes\":" + 20 * MIB + "}");
        build("acme", token, "b1");

        try {
            Response refused = put(artifactPath("acme", "b1", "endless.img"), token,
                    BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(bytes(3, 30 * MIB))));
            assertProblem(refused, 507, "artifacts quota");
        } catch (java.io.UncheckedIOException connectionClosed) {
            // The daemon answers 507 as soon as the body passes the limit and may close the
            // connection while the client is still sending; either way nothing may be kept.
        }
        JsonNode artifacts = usage("acme", token).get("categories").get("artifacts");
        assertThat(artifacts.get("used_bytes").asLong()).isZero();
        assertThat(artifacts.get("reserved_bytes").asLong()).as("released").isZero();
        assertThat(uploadTempFiles(dataRoot)).isEmpty();
        Response fits = put(artifactPath("acme", "b1", "fits.img"), token,
                BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(bytes(4, 19 * MIB))));
        assertThat(fits.status()).as("%s", fits).isEqualTo(201);
        assertThat(usage("acme", token).get("categories").get("artifacts").get("used_bytes").asLong()).isEqualTo(19L * MIB);
    }

    @Test
    void aFailedUploadLeaksNoQuota() {
        String token = tenantWithLimits("acme", "{\"artifact_bytes\":" + 20 * MIB + "}");
        build("acme", token, "b1");

        Response mismatch = upload("acme", token, "b1", "a.img", bytes(1, MIB), "X-Checksum-Sha256", sha256(utf8("other")));

        assertThat(mismatch.status()).isEqualTo(400);
        JsonNode artifacts = usage("acme", token).get("categories").get("artifacts");
        assertThat(artifacts.get("used_bytes").asLong()).isZero();
        assertThat(artifacts.get("reserved_bytes").asLong()).isZero();
    }

    @Test
    void aLimitLoweredBelowUsageKeepsTheDataRefusesNewWritesAndSaysSo() {
        String token = tenantWithLimits("acme", "{}");
        build("acme", token, "b1");
        upload("acme", token, "b1", "a.img", bytes(1, 3 * MIB));

        tenantWithLimits("acme", "{\"total_bytes\":" + 2 * MIB + "}");

        JsonNode usage = usage("acme", token);
        assertThat(usage.get("state").asText()).isEqualTo("hard");
        assertThat(usage.get("used_bytes").asLong()).isEqualTo(3L * MIB);
        assertThat(get(artifactPath("acme", "b1", "a.img"), token).status()).isEqualTo(200);
        assertProblem(upload("acme", token, "b1", "b.img", bytes(2, 10)), 507, "total quota");

        assertThat(delete(artifactPath("acme", "b1", "a.img"), token).status()).isEqualTo(204);
        assertThat(usage("acme", token).get("state").asText()).as("deleting frees the space").isEqualTo("ok");
        assertThat(upload("acme", token, "b1", "b.img", bytes(2, 10)).status()).isEqualTo(201);
    }

    @Test
    void aSmallerTierAppliesAtOnceAndDeletingABuildGivesItsBytesBack() {
        String token = tenant("acme", "pro");
        build("acme", token, "b1");
        upload("acme", token, "b1", "a.img", bytes(1, 600 * 1024));
        put(buildPath("acme", "b1") + "/logs/build.log", token, "x".repeat(1000));

        assertThat(put("/v1/tenants/acme", ADMIN, "{\"tier\":\"free\"}").status()).isEqualTo(200);
        JsonNode usage = usage("acme", token);
        assertThat(usage.get("limit_bytes").asLong()).isEqualTo(1L << 30);
        assertThat(usage.get("categories").get("logs").get("used_bytes").asLong()).isEqualTo(1000);

        assertThat(delete(buildPath("acme", "b1"), token).status()).isEqualTo(204);
        JsonNode after = usage("acme", token);
        assertThat(after.get("categories").get("artifacts").get("used_bytes").asLong()).isZero();
        assertThat(after.get("categories").get("logs").get("used_bytes").asLong()).isZero();
    }

    @Test
    void whatABuildWritesIntoItsDirectoriesIsMeasuredAndABuildPastTheLimitIsTold() throws Exception {
        String token = tenantWithLimits("acme", "{\"total_bytes\":" + 4 * MIB + "}");
        JsonNode build = build("acme", token, "b1");
        assertThat(build.get("over_quota").asBoolean()).isFalse();
        java.nio.file.Path workspace = path(build, "workspace");
        java.nio.file.Files.write(workspace.resolve("objects.o"), bytes(1, 3 * MIB));
        java.nio.file.Files.write(path(build, "temp").resolve("layer.tar"), bytes(2, 2 * MIB));

        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(30)).until(() ->
                usage("acme", token).get("categories").get("scratch").get("used_bytes").asLong() >= 2L * MIB);
        JsonNode usage = usage("acme", token);
        assertThat(usage.get("categories").get("workspace").get("used_bytes").asLong()).isBetween(3L * MIB, 3L * MIB + 65536);
        assertThat(usage.get("categories").get("workspace").get("measured").asText()).isEqualTo("scanned");
        assertThat(usage.get("state").asText()).isEqualTo("hard");
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(30)).until(() ->
                post(buildPath("acme", "b1") + "/heartbeat", token, "{}").json().get("over_quota").asBoolean());
        assertProblem(upload("acme", token, "b1", "late.img", bytes(3, 10)), 507, "total quota");

        java.nio.file.Files.delete(workspace.resolve("objects.o"));
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(30)).until(() ->
                !get(buildPath("acme", "b1"), token).json().get("over_quota").asBoolean());
        assertThat(usage("acme", token).get("state").asText()).isNotEqualTo("hard");
    }

    @Test
    void usageIsForTheTenantAndTheAdminAndFeedsTheMetrics() {
        String acme = tenant("acme", "pro");
        String globex = tenant("globex", "pro");
        build("acme", acme, "b1");
        upload("acme", acme, "b1", "a.img", bytes(1, 1000));

        assertThat(get("/v1/tenants/acme/usage", globex).status()).isEqualTo(403);
        assertThat(usage("acme", ADMIN).get("categories").get("artifacts").get("used_bytes").asLong()).isEqualTo(1000);
        String metrics = get("/metrics", ADMIN).text();
        assertThat(metrics).contains("builderd_storage_usage_bytes{storage_type=\"artifacts\",tenant_id=\"acme\"} 1000.0");
        assertThat(metrics).contains("builderd_storage_quota_usage_ratio{tenant_id=\"acme\"}");
        assertProblem(put("/v1/tenants/acme", ADMIN, "{\"tier\":\"pro\",\"limits\":{\"soft_limit_percent\":0}}"), 400, "soft_limit_percent");
        assertProblem(put("/v1/tenants/acme", ADMIN, "{\"tier\":\"pro\",\"limits\":{\"hard_limit_action\":\"pray\"}}"), 400, "reject or throttle");
        assertThat(Map.of()).isEmpty();
    }
}
