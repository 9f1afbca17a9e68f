package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.builderd.storage.server.DaemonFixture.Response;
import java.net.InetAddress;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Token scopes, build tokens, expiry, token listing and the limit on failed authentications,
 * over HTTP on every route family.
 */
@ParameterizedClass
@EnumSource(MetadataKind.class)
class TokenScopesHttpTest extends HttpApiTestBase {

    private static final String TOKENS = "/v1/tenants/acme/tokens";

    @Test
    void aReadTokenReadsEveryRouteFamilyAndIsForbiddenToWrite() {
        String writer = tenant("acme", "pro");
        build("acme", writer, "b1");
        assertThat(upload("acme", writer, "b1", "a.bin", utf8("original")).status()).isEqualTo(201);
        assertThat(put(buildPath("acme", "b1") + "/logs/build.log", writer, "log line\n").status()).isEqualTo(201);
        String cache = "/v1/tenants/acme/cache/dependencies/npm/left-pad";
        assertThat(put(cache, writer, "package").status()).isEqualTo(201);
        JsonNode issued = issue(ADMIN, Map.of("scope", "read"));
        assertThat(issued.get("scope").asText()).isEqualTo("read");
        String reader = issued.get("token").asText();
        String b = buildPath("acme", "b1");
        String artifact = artifactPath("acme", "b1", "a.bin");

        assertThat(get(artifact, reader).text()).isEqualTo("original");
        assertThat(head(artifact, reader).status()).isEqualTo(200);
        assertThat(get(b + "/artifacts", reader).status()).isEqualTo(200);
        assertThat(get(b + "/logs/build.log", reader).text()).isEqualTo("log line\n");
        assertThat(get(b, reader).status()).isEqualTo(200);
        assertThat(get("/v1/tenants/acme/builds", reader).status()).isEqualTo(200);
        assertThat(get("/v1/tenants/acme", reader).status()).isEqualTo(200);
        assertThat(get("/v1/tenants/acme/usage", reader).status()).isEqualTo(200);
        assertThat(get(cache, reader).text()).isEqualTo("package");
        assertThat(get("/cache/gradle/acme/" + "ab".repeat(16), reader).status()).as("a miss, not a refusal").isEqualTo(404);

        List<Response> writes = List.of(
                put(artifact, reader, "changed"),
                delete(artifact, reader),
                post(artifact + "/gzip", reader, null),
                post(b + "/complete", reader, "{\"status\":\"succeeded\"}"),
                post(b + "/heartbeat", reader, "{}"),
                delete(b, reader),
                put(b + "/logs/build.log", reader, "changed"),
                post("/v1/tenants/acme/builds", reader, "{}"),
                put(cache, reader, "changed"),
                delete(cache, reader),
                put("/cache/gradle/acme/" + "ab".repeat(16), reader, "object"),
                post(TOKENS, reader, "{\"build_id\":\"b1\"}"));
        for (Response response : writes) {
            assertProblem(response, 403, "this token has scope 'read'", "needs scope 'write'");
        }

        assertThat(get(artifact, writer).text()).isEqualTo("original");
        assertThat(get(b, writer).json().get("status").asText()).isEqualTo("active");
        assertThat(get(cache, writer).text()).isEqualTo("package");
    }

    @Test
    void aBuildTokenReachesItsOwnBuildAndTheCachesOnly() {
        String writer = tenant("acme", "pro");
        String other = tenant("globex", "pro");
        build("acme", writer, "b1");
        build("acme", writer, "b2");
        build("globex", other, "b1");
        // Expiry times are kept in whole milliseconds.
        Instant before = Instant.now().truncatedTo(java.time.temporal.ChronoUnit.MILLIS);
        JsonNode issued = issue(writer, Map.of("build_id", "b1"));
        assertThat(issued.get("build_id").asText()).isEqualTo("b1");
        assertThat(issued.get("scope").asText()).isEqualTo("write");
        assertThat(Instant.parse(issued.get("expires_at").asText())).as("24 h by default")
                .isBetween(before.plus(Duration.ofHours(24)), Instant.now().plus(Duration.ofHours(24)));
        String worker = issued.get("token").asText();
        String b1 = buildPath("acme", "b1");

        assertThat(get(b1, worker).status()).isEqualTo(200);
        assertThat(upload("acme", worker, "b1", "rootfs.ext4", utf8("image")).status()).isEqualTo(201);
        assertThat(get(artifactPath("acme", "b1", "rootfs.ext4"), worker).text()).isEqualTo("image");
        assertThat(put(b1 + "/logs/build.log", worker, "log\n").status()).isEqualTo(201);
        assertThat(put("/v1/tenants/acme/cache/dependencies/npm/left-pad", worker, "package").status()).isEqualTo(201);
        assertThat(get("/v1/tenants/acme/cache/dependencies/npm/left-pad", worker).text()).isEqualTo("package");

        List<Response> outside = List.of(
                get(buildPath("acme", "b2"), worker),
                upload("acme", worker, "b2", "x.bin", utf8("x")),
                get(buildPath("acme", "b2") + "/artifacts", worker),
                get("/v1/tenants/acme/builds", worker),
                post("/v1/tenants/acme/builds", worker, "{}"),
                delete(b1, worker),
                get("/v1/tenants/acme", worker),
                get("/v1/tenants/acme/usage", worker),
                delete("/v1/tenants/acme/cache/dependencies/npm/left-pad", worker),
                get(TOKENS, worker),
                post(TOKENS, worker, "{\"build_id\":\"b1\"}"));
        for (Response response : outside) {
            assertProblem(response, 403, "this token is bound to build acme/b1");
        }
        assertProblem(get(buildPath("globex", "b1"), worker), 403, "cannot reach tenant 'globex'");

        assertThat(complete("acme", worker, "b1", "succeeded").status()).isEqualTo(200);
        assertThat(delete(b1, writer).status()).isEqualTo(204);
        assertProblem(get("/v1/tenants/acme/cache/dependencies/npm/left-pad", worker), 401, "not valid");
    }

    @Test
    void anExpiredTokenIs401Expired() {
        tenant("acme", "pro");
        String token = issue(ADMIN, Map.of("scope", "read", "expires_in_seconds", 1)).get("token").asText();

        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertProblem(get("/v1/tenants/acme", token), 401, "expired at"));
    }

    @Test
    void aTenantAdminTokenListsIssuesAndRevokesItsTenantsTokensWithoutSecrets() {
        tenant("acme", "pro");
        tenant("globex", "pro");
        String tenantAdmin = issue(ADMIN, Map.of("scope", "admin")).get("token").asText();
        JsonNode reader = issue(tenantAdmin, Map.of("scope", "read", "expires_in_seconds", 3600));
        assertProblem(post(TOKENS, tenantAdmin, "{\"scope\":\"admin\"}"), 403, "needs the admin token");
        assertProblem(get("/v1/tenants/globex/tokens", tenantAdmin), 403, "cannot reach tenant 'globex'");
        assertProblem(get("/v1/tenants", tenantAdmin), 403);

        Response listed = get(TOKENS, tenantAdmin);

        assertThat(listed.status()).isEqualTo(200);
        JsonNode tokens = listed.json().get("tokens");
        assertThat(tokens).hasSize(3);
        assertThat(tokens.findValuesAsText("scope")).containsExactlyInAnyOrder("write", "admin", "read");
        assertThat(tokens.findValues("token")).isEmpty();
        assertThat(listed.text()).doesNotContain(reader.get("token").asText().substring(17));
        JsonNode listedReader = find(tokens, reader.get("token_id").asText());
        assertThat(listedReader.get("expires_at").asText()).isEqualTo(reader.get("expires_at").asText());
        assertThat(listedReader.get("created_at").asText()).isNotEmpty();
        assertThat(listedReader.has("revoked_at")).isFalse();

        assertThat(delete(TOKENS + "/" + reader.get("token_id").asText(), tenantAdmin).status()).isEqualTo(204);
        assertProblem(get("/v1/tenants/acme", reader.get("token").asText()), 401, "was revoked");
        assertThat(find(get(TOKENS, ADMIN).json().get("tokens"), reader.get("token_id").asText()).has("revoked_at")).isTrue();
    }

    @Test
    void badTokenRequestsAre400NamingTheField() {
        String writer = tenant("acme", "pro");
        assertProblem(post(TOKENS, ADMIN, "{\"scope\":\"owner\"}"), 400, "unknown token scope 'owner'");
        assertProblem(post(TOKENS, ADMIN, "{\"expires_in_seconds\":0}"), 400, "lifetime");
        assertProblem(post(TOKENS, ADMIN, "{\"build_id\":\"b1\",\"scope\":\"admin\"}"), 400, "a build token has scope read or write");
        assertProblem(post(TOKENS, writer, "{\"build_id\":\"nope\"}"), 404, "build 'nope'");
    }

    @Test
    void tooManyFailedAuthenticationsFromOneAddressAre429WhileOtherAddressesGoOn() throws Exception {
        String token = tenant("acme", "pro");
        for (int i = 0; i < 10; i++) {
            assertProblem(get("/v1/tenants/acme", "bdt_guess" + i + "_" + "x".repeat(43)), 401);
        }

        Response blocked = get("/v1/tenants/acme", "bdt_guess_" + "x".repeat(43));
        assertProblem(blocked, 429, "too many failed authentications");
        assertThat(blocked.header("Retry-After")).hasValueSatisfying(v -> assertThat(Long.parseLong(v)).isBetween(1L, 60L));
        assertProblem(get("/v1/tenants/acme", token), 429);
        assertThat(get("/health/live", null).status()).isEqualTo(200);

        HttpClient elsewhere = HttpClient.newBuilder().localAddress(InetAddress.getByName("127.0.0.2")).build();
        HttpResponse<String> fromElsewhere = elsewhere.send(HttpRequest.newBuilder(daemon.uri("/v1/tenants/acme"))
                .header("Authorization", "Bearer " + token).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(fromElsewhere.statusCode()).as("%s", fromElsewhere.body()).isEqualTo(200);
    }

    private JsonNode issue(String caller, Map<String, Object> body) {
        Response issued = post(TOKENS, caller, DaemonFixture.json(body));
        assertThat(issued.status()).as("issue token: %s", issued).isEqualTo(201);
        return issued.json();
    }

    private static JsonNode find(JsonNode tokens, String tokenId) {
        for (JsonNode token : tokens) {
            if (token.get("token_id").asText().equals(tokenId)) {
                return token;
            }
        }
        throw new AssertionError("no token " + tokenId + " in " + tokens);
    }
}
