package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.builderd.storage.server.DaemonFixture.Response;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Hostile or malformed IDs, names and bodies: each is answered 4xx with a problem+json detail
 * (or a bare 400 where Jetty refuses the request line before the API sees it), and nothing is
 * created on disk.
 */
@ParameterizedClass
@EnumSource(MetadataKind.class)
class BadInputHttpTest extends HttpApiTestBase {

    /** Raw (already percent-encoded) path segments that are not valid IDs or names. */
    private static final List<String> BAD_SEGMENTS = List.of(
            "..", "%2e%2e", "%2E%2E", "a%2F..%2Fb", "%2Fetc%2Fpasswd", "a%5Cb", "%5C..%5Cx", "a%00b", "%00",
            "%D0%B0cme", "x%0Ay");
    private static final String LONG_ID = "a".repeat(64);
    private static final String LONG_NAME = "n".repeat(129);

    private String token;
    private List<Path> before;

    @BeforeEach
    void createTenantAndBuild() {
        token = tenant("acme", "pro");
        build("acme", token, "b1");
        before = tree();
    }

    private List<Path> tree() {
        return walk(dataRoot.resolve("tenants")).sorted().toList();
    }

    private void assertNothingCreated() {
        assertThat(tree()).isEqualTo(before);
        assertThat(get("/v1/tenants", ADMIN).json().get("tenants").findValuesAsText("tenant_id")).containsExactly("acme");
        assertThat(get("/v1/tenants/acme/builds", token).json().get("builds").findValuesAsText("build_id"))
                .containsExactly("b1");
        assertThat(manifestNames("acme", token, "b1")).isEmpty();
        assertThat(get(buildPath("acme", "b1") + "/logs", token).json().get("logs")).isEmpty();
    }

    /** A rejection: 4xx problem+json with a detail, or a bare 400 from Jetty's own URI checks. */
    private void rejected(String method, String rawPath, String authToken, String body) {
        Response response = daemon.sendOnce(method, rawPath, authToken, body);
        String what = method + " " + rawPath;
        assertThat(response.status()).as("%s -> %s", what, response).isBetween(400, 499);
        boolean problem = response.header("Content-Type").orElse("").startsWith("application/problem+json");
        if (problem) {
            assertThat(response.json().get("detail").asText()).as(what).isNotBlank();
        } else {
            assertThat(response.status()).as("%s: a response without problem+json must be Jetty's 400: %s", what, response)
                    .isEqualTo(400);
        }
    }

    @Test
    void badSegmentsInEveryPathPosition() {
        List<String> segments = new java.util.ArrayList<>(BAD_SEGMENTS);
        segments.add(LONG_NAME);
        for (String bad : segments) {
            rejected("PUT", "/v1/tenants/" + bad, ADMIN, "{\"tier\":\"free\"}");
            rejected("POST", "/v1/tenants/" + bad + "/builds", ADMIN, "{}");
            rejected("POST", "/v1/tenants/" + bad + "/tokens", ADMIN, null);
            rejected("PUT", artifactPath("acme", bad, "a.bin"), token, "x");
            rejected("PUT", artifactPath("acme", "b1", bad), token, "x");
            rejected("PUT", buildPath("acme", "b1") + "/logs/" + bad, token, "x");
            rejected("POST", artifactPath("acme", "b1", bad) + "/import", token, "{\"from\":\"temp/x\"}");
            rejected("POST", artifactPath("acme", "b1", bad) + "/gzip", token, null);
        }
        assertNothingCreated();
    }

    @Test
    void invalidIdsAndNamesNameTheProblem() {
        assertProblem(put("/v1/tenants/Acme", ADMIN, "{\"tier\":\"free\"}"), 400, "tenant id", "Acme");
        assertProblem(put("/v1/tenants/" + LONG_ID, ADMIN, "{\"tier\":\"free\"}"), 400, "tenant id");
        assertProblem(put("/v1/tenants/-acme", ADMIN, "{\"tier\":\"free\"}"), 400, "tenant id");
        assertProblem(put("/v1/tenants/%D0%B0cme", ADMIN, "{\"tier\":\"free\"}"), 400, "tenant id", "\\u{430}");
        assertProblem(put(artifactPath("acme", "b1", LONG_NAME), token, "x"), 400, "name");
        assertProblem(put(artifactPath("acme", "b1", ".hidden"), token, "x"), 400, "name");
        assertProblem(put(artifactPath("acme", "b1", "%2e%2e"), token, "x"), 400);
        assertNothingCreated();
    }

    @Test
    void badBuildIdsInTheBody() {
        for (String bad : List.of("..", "../x", "a/b", "/abs", "a\\b", "a\u0000b", LONG_ID, "B1", "\u0430cme", "")) {
            assertProblem(post("/v1/tenants/acme/builds", token, DaemonFixture.json(Map.of("build_id", bad))), 400,
                    "build id");
        }
        assertNothingCreated();
    }

    @Test
    void malformedJsonAndUnknownFields() {
        assertProblem(put("/v1/tenants/newt", ADMIN, "{\"tier\":"), 400, "malformed");
        assertProblem(put("/v1/tenants/newt", ADMIN, "{\"tier\":\"free\",\"colour\":\"red\"}"), 400, "colour");
        assertProblem(put("/v1/tenants/newt", ADMIN, "[]"), 400);
        assertProblem(put("/v1/tenants/newt", ADMIN, ""), 400, "JSON body");
        assertProblem(post("/v1/tenants/acme/builds", token, "{\"build_id\":\"b2\",\"extra\":1}"), 400, "extra");
        assertProblem(post("/v1/tenants/acme/builds", token, "not json"), 400, "malformed");
        assertProblem(post("/v1/tenants/acme/builds", token, "{\"lease_seconds\":\"soon\"}"), 400);
        assertProblem(post(buildPath("acme", "b1") + "/complete", token, "{\"status\":\"succeeded\""), 400, "malformed");
        assertProblem(post(artifactPath("acme", "b1", "x") + "/import", token, "{\"form\":\"temp/x\"}"), 400, "form");
        assertThat(get("/v1/tenants/newt", ADMIN).status()).isEqualTo(404);
        assertThat(get(buildPath("acme", "b1"), token).json().get("status").asText()).isEqualTo("active");
        assertNothingCreated();
    }
}
