package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.builderd.storage.server.DaemonFixture.Response;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** Retention policies, the janitor's dry run and its record over HTTP; orphans swept at start-up. */
@ParameterizedClass
@EnumSource(MetadataKind.class)
class RetentionHttpTest extends HttpApiTestBase {

    private static final String POLICY = "/v1/tenants/acme/retention-policy";

    @Test
    void theAdminSetsAPolicyTheTenantReadsItAndTheFileHoldsIt() throws IOException {
        String token = tenant("acme", "enterprise");

        JsonNode defaults = get(POLICY, token).json();
        assertThat(defaults.get("tier").asText()).isEqualTo("enterprise");
        assertThat(defaults.get("policy").toString()).isEqualTo(
                "{\"artifact_max_age_days\":90,\"keep_last_successful\":5,\"failed_build_max_age_days\":90,\"log_max_age_days\":90}");
        assertThat(defaults.get("overrides").isEmpty()).isTrue();

        Response set = put(POLICY, ADMIN, "{\"keep_last_successful\":10,\"log_max_age_days\":7}");

        assertThat(set.status()).as("%s", set).isEqualTo(200);
        assertThat(set.json().get("policy").get("keep_last_successful").asInt()).isEqualTo(10);
        assertThat(set.json().get("policy").get("artifact_max_age_days").asInt()).as("from the tier").isEqualTo(90);
        assertThat(get(POLICY, token).json().get("overrides").toString())
                .isEqualTo("{\"keep_last_successful\":10,\"log_max_age_days\":7}");
        Path file = dataRoot.resolve("config/retention-policies/acme.json");
        assertThat(Files.readString(file)).contains("\"log_max_age_days\" : 7");
        Files.writeString(file, "{\"failed_build_max_age_days\": 3}");
        assertThat(get(POLICY, token).json().get("policy").get("failed_build_max_age_days").asInt())
                .as("an operator's edit counts").isEqualTo(3);

        assertThat(put(POLICY, ADMIN, "{}").json().get("overrides").isEmpty()).as("back to the tier").isTrue();
        assertThat(file).doesNotExist();
    }

    @Test
    void writesAreTheAdminsReadsTheTenantsOwnAndBadValuesAreNamed() {
        String token = tenant("acme", "pro");
        String other = tenant("globex", "pro");

        assertProblem(put(POLICY, token, "{\"keep_last_successful\":1}"), 403);
        assertProblem(post(POLICY + "/run", token, null), 403);
        assertProblem(get(POLICY, other), 403);
        assertProblem(get(POLICY + "/dry-run", other), 403);
        assertProblem(get(POLICY + "/deletions", other), 403);
        assertThat(get(POLICY, null).status()).isEqualTo(401);
        assertProblem(put(POLICY, ADMIN, "{\"artifact_max_age_days\":0}"), 400, "artifact_max_age_days", "1 to 36500");
        assertProblem(put(POLICY, ADMIN, "{\"keep_last_successful\":\"ten\"}"), 400, "keep_last_successful");
        assertProblem(put(POLICY, ADMIN, "{\"max_age\":3}"), 400, "unknown field 'max_age'", "artifact_max_age_days");
        assertProblem(put(POLICY, ADMIN, "{\"log_max_age_days\":"), 400, "not valid JSON");
        assertProblem(put(POLICY, ADMIN, ""), 400, "needs a JSON body");
        assertProblem(put("/v1/tenants/nobody/retention-policy", ADMIN, "{}"), 404);
        assertProblem(get(POLICY + "/deletions?limit=0", token), 400, "1 to 1000");
        assertProblem(get(POLICY + "/deletions?limit=many", token), 400, "limit");
    }

    @Test
    void aDryRunListsNothingForFreshBuildsAndDeletesNothing() {
        String token = tenant("acme", "pro");
        put(POLICY, ADMIN, "{\"keep_last_successful\":0,\"artifact_max_age_days\":1}");
        build("acme", token, "b1");
        upload("acme", token, "b1", "rootfs.ext4", bytes(1, 1000));
        complete("acme", token, "b1", "succeeded");

        JsonNode dryRun = get(POLICY + "/dry-run", token).json();
        Response run = post(POLICY + "/run", ADMIN, null);

        assertThat(dryRun.get("policy").get("artifact_max_age_days").asInt()).isEqualTo(1);
        assertThat(dryRun.get("deletions").isEmpty()).as("a build of today is younger than a day").isTrue();
        assertThat(run.status()).as("%s", run).isEqualTo(200);
        assertThat(run.json().get("deleted").isEmpty()).isTrue();
        assertThat(get(buildPath("acme", "b1"), token).status()).isEqualTo(200);
    }

    @Test
    void anOrphanBuildTreeIsSweptAtStartUpInTheBackgroundAndRecorded() throws IOException {
        String token = tenant("acme", "pro");
        build("acme", token, "known");
        Path ghost = dataRoot.resolve("tenants/acme/builds/ghost");
        Path young = dataRoot.resolve("tenants/acme/builds/young");
        Files.createDirectories(ghost.resolve("rootfs"));
        Files.writeString(ghost.resolve("rootfs/filesystem.ext4"), "left by a crash");
        Files.createDirectories(young.resolve("rootfs"));
        Files.setLastModifiedTime(ghost, FileTime.from(Instant.now().minus(Duration.ofHours(2))));
        Files.setLastModifiedTime(dataRoot.resolve("tenants/acme/builds/known"), FileTime.from(Instant.now().minus(Duration.ofDays(2))));

        daemon.restart();

        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(ghost).doesNotExist());
        JsonNode deletions = get(POLICY + "/deletions?limit=10", token).json().get("deletions");
        assertThat(deletions).hasSize(1);
        assertThat(deletions.get(0).get("build_id").asText()).isEqualTo("ghost");
        assertThat(deletions.get(0).get("kind").asText()).isEqualTo("orphan_build");
        assertThat(deletions.get(0).get("reason").asText()).contains("grace period of 3600 s");
        assertThat(young).as("within the grace period").exists();
        assertThat(get(buildPath("acme", "known"), token).status()).isEqualTo(200);
        assertThat(dataRoot.resolve("tenants/acme/builds/known/workspace")).exists();
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(get("/metrics", ADMIN).text()).contains(
                "builderd_janitor_deleted_total{kind=\"orphan_build\",tenant_id=\"acme\"} 1.0",
                "builderd_janitor_runs_total{job=\"orphans\",outcome=\"ok\"}",
                "builderd_janitor_runs_total{job=\"retention\",outcome=\"ok\"}",
                "builderd_janitor_last_run_timestamp_seconds{job=\"orphans\"}"));
    }

    @Test
    void aPurgedTenantsPolicyDoesNotComeBackWithItsName() {
        tenant("acme", "pro");
        put(POLICY, ADMIN, "{\"keep_last_successful\":42}");

        assertThat(delete("/v1/tenants/acme", ADMIN).status()).isEqualTo(204);
        tenant("acme", "pro");

        assertThat(get(POLICY, ADMIN).json().get("policy").get("keep_last_successful").asInt()).isEqualTo(5);
        assertThat(get(POLICY + "/deletions", ADMIN).json().get("deletions").isEmpty()).isTrue();
    }
}
