package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.builderd.storage.server.DaemonFixture.Response;
import java.net.http.HttpRequest.BodyPublishers;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** Authentication (401) and tenant isolation (403) on every route family. */
@ParameterizedClass
@EnumSource(MetadataKind.class)
class AuthHttpTest extends HttpApiTestBase {

    @Test
    void missingHeaderIs401WithChallenge() {
        tenant("acme", "pro");
        Response response = get("/v1/tenants/acme", null);
        assertProblem(response, 401, "Authorization");
        assertThat(response.header("WWW-Authenticate")).hasValueSatisfying(v -> assertThat(v).startsWith("Bearer"));
    }

    @Test
    void malformedSchemeIs401() {
        tenant("acme", "pro");
        Response response = daemon.send("GET", "/v1/tenants/acme", null, null, "Authorization", "Basic " + ADMIN);
        assertProblem(response, 401, "Bearer");
        assertThat(response.header("WWW-Authenticate")).isPresent();
    }

    @Test
    void unknownTokenIs401() {
        tenant("acme", "pro");
        assertProblem(get("/v1/tenants/acme", "bd_not-a-real-token-at-all-0000000000"), 401);
        assertProblem(get("/v1/tenants/acme", ADMIN + "x"), 401);
    }

    @Test
    void anotherTenantsTokenIsForbiddenOnEveryRouteAndChangesNothing() {
        String acme = tenant("acme", "pro");
        String intruder = tenant("evil", "pro");
        var build = build("acme", acme, "b1");
        assertThat(upload("acme", acme, "b1", "a.bin", utf8("original")).status()).isEqualTo(201);
        assertThat(put(buildPath("acme", "b1") + "/logs/build.log", acme, "log line\n").status()).isEqualTo(201);
        String b = buildPath("acme", "b1");
        String artifact = artifactPath("acme", "b1", "a.bin");

        List<Response> responses = List.of(
                get("/v1/tenants/acme", intruder),
                get("/v1/tenants/acme/builds", intruder),
                post("/v1/tenants/acme/builds", intruder, "{\"build_id\":\"b2\"}"),
                get(b, intruder),
                post(b + "/complete", intruder, "{\"status\":\"failed\"}"),
                post(b + "/heartbeat", intruder, "{}"),
                delete(b, intruder),
                put(artifact, intruder, "evil content"),
                put(artifactPath("acme", "b1", "new.bin"), intruder, "evil content"),
                get(artifact, intruder),
                head(artifact, intruder),
                delete(artifact, intruder),
                get(b + "/artifacts", intruder),
                post(artifact + "/gzip", intruder, null),
                post(artifactPath("acme", "b1", "imp.bin") + "/import", intruder, "{\"from\":\"temp/x\"}"),
                put(b + "/logs/build.log", intruder, "evil log"),
                get(b + "/logs/build.log", intruder),
                get(b + "/logs", intruder));
        for (Response response : responses) {
            if (response.body().length == 0) {
                assertThat(response.status()).as("HEAD").isEqualTo(403);
            } else {
                assertProblem(response, 403);
            }
        }

        assertThat(get(b, acme).json().get("status").asText()).isEqualTo("active");
        assertThat(get(artifact, acme).text()).isEqualTo("original");
        assertThat(manifestNames("acme", acme, "b1")).containsExactly("a.bin");
        assertThat(get(b + "/logs/build.log", acme).text()).isEqualTo("log line\n");
        assertThat(get("/v1/tenants/acme/builds", acme).json().get("builds").findValuesAsText("build_id"))
                .containsExactly("b1");
        assertThat(Path.of(build.get("paths").get("rootfs").asText())).isDirectoryNotContaining("glob:**/new.bin");
        assertThat(daemon.send("GET", "/v1/tenants/acme", acme, BodyPublishers.noBody()).status()).isEqualTo(200);
    }
}
