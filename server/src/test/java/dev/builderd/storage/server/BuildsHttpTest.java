package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.builderd.storage.server.DaemonFixture.Response;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** The life of a build over HTTP: limits, completion, deletion, leases. */
@ParameterizedClass
@EnumSource(MetadataKind.class)
class BuildsHttpTest extends HttpApiTestBase {

    @Test
    void freeTierRunsOneBuildAtATime() {
        String token = tenant("acme", "free");
        build("acme", token, "b1");
        Response second = post("/v1/tenants/acme/builds", token, "{\"build_id\":\"b2\"}");
        assertProblem(second, 429, "limit");
        assertThat(second.header("Retry-After")).hasValueSatisfying(v -> assertThat(Integer.parseInt(v)).isPositive());
        assertThat(dataRoot.resolve("tenants/acme/builds/b2")).doesNotExist();
        assertThat(get(buildPath("acme", "b2"), token).status()).isEqualTo(404);

        assertThat(complete("acme", token, "b1", "succeeded").status()).isEqualTo(200);
        build("acme", token, "b2");
    }

    @Test
    void proTierRunsThreeBuilds() {
        String token = tenant("acme", "pro");
        build("acme", token, "b1");
        build("acme", token, "b2");
        build("acme", token, "b3");
        assertProblem(post("/v1/tenants/acme/builds", token, "{\"build_id\":\"b4\"}"), 429);
        assertThat(delete(buildPath("acme", "b2"), token).status()).isEqualTo(204);
        build("acme", token, "b4");
    }

    @Test
    void duplicateBuildIdIsConflict() {
        String token = tenant("acme", "pro");
        build("acme", token, "b1");
        write(dataRoot.resolve("tenants/acme/builds/b1/workspace/keep.txt"), "keep");
        assertProblem(post("/v1/tenants/acme/builds", token, "{\"build_id\":\"b1\"}"), 409, "b1");
        assertThat(dataRoot.resolve("tenants/acme/builds/b1/workspace/keep.txt")).hasContent("keep");
    }

    @Test
    void generatedIdAndList() {
        String token = tenant("acme", "pro");
        String generated = build("acme", token, null).get("build_id").asText();
        assertThat(generated).matches("[a-z0-9][a-z0-9-]{0,62}");
        build("acme", token, "b1");
        JsonNode list = get("/v1/tenants/acme/builds", token).json().get("builds");
        assertThat(list.findValuesAsText("build_id")).containsExactlyInAnyOrder(generated, "b1");
        assertThat(list.findValuesAsText("status")).containsOnly("active");
    }

    @Test
    void completeDeletesScratchKeepsArtifactsAndLogs() {
        String token = tenant("acme", "pro");
        JsonNode build = build("acme", token, "b1");
        write(path(build, "temp").resolve("big/scratch.bin"), "scratch");
        write(path(build, "workspace").resolve("src/main.c"), "int main;");
        assertThat(upload("acme", token, "b1", "out.bin", utf8("artifact")).status()).isEqualTo(201);
        assertThat(put(buildPath("acme", "b1") + "/logs/build.log", token, "ok\n").status()).isEqualTo(201);

        Response completed = complete("acme", token, "b1", "succeeded");
        assertThat(completed.status()).as("%s", completed).isEqualTo(200);
        assertThat(completed.json().get("status").asText()).isEqualTo("succeeded");

        assertThat(path(build, "temp")).doesNotExist();
        assertThat(path(build, "workspace")).doesNotExist();
        assertThat(path(build, "rootfs").resolve("out.bin")).hasContent("artifact");
        assertThat(path(build, "logs").resolve("build.log")).hasContent("ok\n");
        assertThat(get(buildPath("acme", "b1"), token).json().get("status").asText()).isEqualTo("succeeded");
        assertThat(get(artifactPath("acme", "b1", "out.bin"), token).text()).isEqualTo("artifact");
        assertThat(get(buildPath("acme", "b1") + "/logs/build.log", token).text()).isEqualTo("ok\n");

        assertProblem(complete("acme", token, "b1", "failed"), 409, "succeeded");
        assertProblem(upload("acme", token, "b1", "late.bin", utf8("late")), 409);
        assertProblem(put(buildPath("acme", "b1") + "/logs/late.log", token, "late"), 409);
        assertProblem(delete(artifactPath("acme", "b1", "out.bin"), token), 409);
        assertThat(path(build, "rootfs").resolve("late.bin")).doesNotExist();
        assertThat(manifestNames("acme", token, "b1")).containsExactly("out.bin");
        assertThat(get(buildPath("acme", "b1"), token).json().get("status").asText()).isEqualTo("succeeded");
    }

    @Test
    void completeWithBadStatusIs400() {
        String token = tenant("acme", "pro");
        build("acme", token, "b1");
        assertProblem(complete("acme", token, "b1", "exploded"), 400, "exploded");
        assertProblem(complete("acme", token, "b1", "active"), 400);
        assertProblem(post(buildPath("acme", "b1") + "/complete", token, "{}"), 400);
        assertThat(get(buildPath("acme", "b1"), token).json().get("status").asText()).isEqualTo("active");
    }

    @Test
    void deleteRemovesEverything() {
        String token = tenant("acme", "pro");
        JsonNode build = build("acme", token, "b1");
        assertThat(upload("acme", token, "b1", "out.bin", utf8("artifact")).status()).isEqualTo(201);
        write(path(build, "workspace").resolve("x"), "x");

        assertThat(delete(buildPath("acme", "b1"), token).status()).isEqualTo(204);

        assertThat(dataRoot.resolve("tenants/acme/builds/b1")).doesNotExist();
        assertProblem(get(buildPath("acme", "b1"), token), 404, "b1");
        assertProblem(get(artifactPath("acme", "b1", "out.bin"), token), 404);
        assertProblem(delete(buildPath("acme", "b1"), token), 404);
        assertThat(get("/v1/tenants/acme/builds", token).json().get("builds")).isEmpty();
    }

    @Test
    void expiredLeaseFailsTheBuildCleansItAndFreesTheSlot() {
        String token = tenant("acme", "free");
        Response created = post("/v1/tenants/acme/builds", token, "{\"build_id\":\"b1\",\"lease_seconds\":1}");
        assertThat(created.status()).as("%s", created).isEqualTo(201);
        JsonNode build = created.json();
        write(path(build, "temp").resolve("t.bin"), "t");
        write(path(build, "workspace").resolve("w.c"), "w");

        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            JsonNode now = get(buildPath("acme", "b1"), token).json();
            assertThat(now.get("status").asText()).isEqualTo("failed");
            assertThat(now.get("failure_reason").asText()).contains("lease");
        });
        assertThat(path(build, "temp")).doesNotExist();
        assertThat(path(build, "workspace")).doesNotExist();
        assertThat(path(build, "rootfs")).isDirectory();
        build("acme", token, "b2");
    }

    @Test
    void heartbeatExtendsTheLeaseAndIsConflictOnceCompleted() {
        String token = tenant("acme", "pro");
        Response created = post("/v1/tenants/acme/builds", token, "{\"build_id\":\"b1\",\"lease_seconds\":60}");
        String before = created.json().get("lease_expires").asText();

        Response renewed = post(buildPath("acme", "b1") + "/heartbeat", token, "{\"lease_seconds\":3600}");
        assertThat(renewed.status()).as("%s", renewed).isEqualTo(200);
        assertThat(java.time.Instant.parse(renewed.json().get("lease_expires").asText()))
                .isAfter(java.time.Instant.parse(before).plusSeconds(3000));
        assertThat(get(buildPath("acme", "b1"), token).json().get("lease_expires").asText())
                .isEqualTo(renewed.json().get("lease_expires").asText());

        assertThat(complete("acme", token, "b1", "failed").status()).isEqualTo(200);
        assertProblem(post(buildPath("acme", "b1") + "/heartbeat", token, "{}"), 409);
        assertProblem(post("/v1/tenants/acme/builds", token, "{\"lease_seconds\":0}"), 400, "lease");
    }
}
