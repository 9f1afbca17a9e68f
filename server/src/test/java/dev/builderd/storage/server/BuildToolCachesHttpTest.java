package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.builderd.storage.server.DaemonFixture.Response;
import java.io.ByteArrayInputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpRequest.BodyPublishers;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Base64;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The build-tool cache protocols (issue 6, item 5) as their clients speak them, with a plain
 * HTTP client: Bazel's and Gradle's (no Bazel or Gradle binary runs here), and the edges of
 * ccache's and Turborepo's, whose real clients run in {@link BuildToolCachesRealClientsHttpTest}.
 */
@ParameterizedClass
@EnumSource(MetadataKind.class)
class BuildToolCachesHttpTest extends HttpApiTestBase {

    private static final String HEX64 = "0123456789abcdef".repeat(4);

    private long cacheUsed(String token) {
        return get("/v1/tenants/acme/usage", token).json().get("categories").get("cache").get("used_bytes").asLong();
    }

    /** {@code Authorization: Basic} with {@code user} and the token as password, as a URL's user info makes it. */
    private static String[] basic(String user, String password) {
        return new String[] {"Authorization", "Basic " + Base64.getEncoder().encodeToString(
                (user + ":" + password).getBytes(StandardCharsets.UTF_8))};
    }

    @Test
    void bazelActionResultsAndCasBlobsRoundTripAndAMissIs404() {
        String token = tenant("acme", "pro");
        byte[] actionResult = bytes(1, 700);
        byte[] blob = bytes(2, 300_000);
        String ac = "/cache/bazel/acme/ac/" + HEX64;
        String cas = "/cache/bazel/acme/cas/" + sha256(blob);

        assertThat(put(ac, token, actionResult).status()).isEqualTo(201);
        assertThat(put(cas, null, blob, basic("acme", token)).status()).as("Basic, as Bazel sends from the URL").isEqualTo(201);

        assertThat(get(ac, token).body()).isEqualTo(actionResult);
        assertThat(get(cas, null, basic("anyone", token)).body()).isEqualTo(blob);
        String urlSafe = Base64.getUrlEncoder().encodeToString(("??>:" + token).getBytes(StandardCharsets.UTF_8));
        assertThat(urlSafe).as("the URL-safe alphabet, as Bazel encodes a URL's user info").containsAnyOf("-", "_");
        assertThat(get(cas, null, "Authorization", "Basic " + urlSafe).body()).isEqualTo(blob);
        assertThat(head(cas, token).header("Content-Length")).hasValue("300000");
        assertThat(get("/cache/bazel/acme/cas/" + sha256(utf8("absent")), token).status()).isEqualTo(404);
        assertThat(head("/cache/bazel/acme/ac/" + "f".repeat(64), token).status()).isEqualTo(404);
        assertThat(get("/v1/tenants/acme/cache/dependencies/bazel/cas/" + sha256(blob), token).body())
                .as("the same entry in the tenant's dependencies cache").isEqualTo(blob);
        assertThat(cacheUsed(token)).isEqualTo(300_700);
    }

    @Test
    void aCasBlobThatDoesNotMatchItsHashIsRefusedAndNothingIsKept() {
        String token = tenant("acme", "pro");
        String cas = "/cache/bazel/acme/cas/" + sha256(utf8("what was promised"));

        assertProblem(put(cas, token, bytes(3, 5000)), 400, "SHA-256", "nothing was stored");
        assertThat(get(cas, token).status()).isEqualTo(404);
        assertThat(cacheUsed(token)).isZero();
    }

    @Test
    void gradleEntriesOverTheSizeLimitGet413AndNothingIsKept() throws Exception {
        daemon = daemon.restartWith(Map.of("UNKEY_BUILDERD_BUILD_TOOL_CACHE_MAX_ENTRY_MB", "1"));
        // Encrypted, so that a body cut off at the limit is also dropped through the encrypting store.
        String token = tenant("acme", "enterprise");
        String entry = "/cache/gradle/acme/" + "0a1b2c3d".repeat(4);
        byte[] tooLarge = bytes(4, (1 << 20) + 1);

        assertProblem(put(entry, null, tooLarge, basic("gradle", token)), 413, "1048576", "nothing was stored");
        try (Socket socket = daemon.connect("PUT " + entry + " HTTP/1.1\r\nAuthorization: Bearer " + token
                + "\r\nExpect: 100-continue\r\nContent-Length: " + (64L << 20))) {
            String answer = new String(socket.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
            assertThat(answer).as("refused before the body is sent, as Gradle's useExpectContinue wants").startsWith("HTTP/1.1 413");
        }
        Response chunked = put(entry, token, BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(tooLarge)));
        assertProblem(chunked, 413, "1048576");
        assertThat(get(entry, token).status()).isEqualTo(404);
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertThat(uploadTempFiles(dataRoot)).isEmpty());
        assertThat(cacheUsed(token)).isZero();

        byte[] fits = bytes(5, 1 << 20);
        assertThat(put(entry, null, fits, basic("gradle", token)).status()).isEqualTo(201);
        assertThat(get(entry, null, basic("gradle", token)).body()).isEqualTo(fits);
        assertThat(cacheUsed(token)).isEqualTo(1 << 20);
    }

    @Test
    void aForeignTokenIs403AndMissingOrInvalidCredentialsAre401() {
        String acme = tenant("acme", "pro");
        String globex = tenant("globex", "pro");
        String entry = "/cache/gradle/acme/" + "ab".repeat(16);
        assertThat(put(entry, acme, utf8("mine")).status()).isEqualTo(201);

        assertProblem(get(entry, globex), 403, "globex");
        assertProblem(put(entry, null, utf8("theirs"), basic("acme", globex)), 403, "globex");
        assertProblem(get("/cache/turbo/acme/v8/artifacts/status", globex), 403);

        Response anonymous = get(entry, null);
        assertProblem(anonymous, 401, "Basic");
        assertThat(anonymous.headers().allValues("WWW-Authenticate")).contains("Basic realm=\"builderd\"");
        assertProblem(get(entry, null, basic("acme", "bdt_not_a_token")), 401, "password");
        assertProblem(get(entry, null, "Authorization", "Basic %%%"), 401, "user:password");
        assertProblem(get(entry, "bdt_not_a_token"), 401);
        assertProblem(get("/v1/tenants/acme/usage", null, basic("acme", acme)), 401, "Bearer");
        assertThat(get(entry, acme).body()).isEqualTo(utf8("mine"));
    }

    @Test
    void keysThatBreakAProtocolsRulesAre400NamingTheRule() {
        String token = tenant("acme", "pro");

        assertProblem(put("/cache/bazel/acme/ac/xyz", token, "x"), 400, "Bazel", "64 lowercase hex");
        assertProblem(put("/cache/bazel/acme/tree/" + HEX64, token, "x"), 400, "ac/ or cas/");
        assertProblem(put("/cache/bazel/acme/cas/" + HEX64.toUpperCase(), token, "x"), 400, "lowercase");
        assertProblem(put("/cache/gradle/acme/not-hex", token, "x"), 400, "Gradle", "hex");
        assertProblem(put("/cache/ccache/acme/ab/cd/" + "e".repeat(30), token, "x"), 400, "ccache");
        assertProblem(put("/cache/ccache/acme/zz/" + "w".repeat(31), token, "x"), 400, "ccache", "a to v");
        assertProblem(put("/cache/turbo/acme/v8/artifacts/latest", token, "x"), 400, "Turborepo", "hex");
        assertProblem(put("/cache/turbo/acme/v8/artifacts/" + "ab".repeat(8), token, "x", "x-artifact-duration", "soon"), 400,
                "x-artifact-duration");
        assertThat(cacheUsed(token)).isZero();
    }

    @Test
    void ccacheLayoutsSubdirsAndFlatNameTheSameEntryWhichCanBeDeleted() {
        String token = tenant("acme", "pro");
        String key = "f0c5eqschg6r72ejdd2rf2qf648v2khdk";
        String subdirs = "/cache/ccache/acme/" + key.substring(0, 2) + "/" + key.substring(2);
        String flat = "/cache/ccache/acme/" + key;

        assertThat(put(subdirs, null, bytes(6, 2000), basic("acme", token)).status()).isEqualTo(201);
        assertThat(head(flat, token).status()).isEqualTo(200);
        assertThat(get(flat, token).body()).isEqualTo(bytes(6, 2000));
        assertThat(delete(flat, token).status()).isEqualTo(204);
        assertThat(get(subdirs, token).status()).isEqualTo(404);
        assertThat(cacheUsed(token)).isZero();
    }

    @Test
    void turborepoArtifactsKeepTheirDurationAndTag() {
        String token = tenant("acme", "pro");
        String hash = "27362b5e42269f3e";
        String artifact = "/cache/turbo/acme/v8/artifacts/" + hash + "?teamId=team_acme&slug=acme";
        byte[] tarball = bytes(7, 40_000);

        assertThat(get(artifact, token).status()).as("a miss").isEqualTo(404);
        Response stored = put(artifact, token, tarball, "x-artifact-duration", "239", "x-artifact-tag", "c2lnbmF0dXJl+/=");
        assertThat(stored.status()).as("%s", stored).isEqualTo(202);
        Response read = get(artifact, token);
        assertThat(read.body()).isEqualTo(tarball);
        assertThat(read.header("x-artifact-duration")).hasValue("239");
        assertThat(read.header("x-artifact-tag")).hasValue("c2lnbmF0dXJl+/=");
        Response exists = head(artifact, token);
        assertThat(exists.status()).isEqualTo(200);
        assertThat(exists.header("Content-Length")).hasValue("40000");
        assertThat(get("/cache/turbo/acme/v8/artifacts/status", token).json().get("status").asText()).isEqualTo("enabled");
        assertThat(post("/cache/turbo/acme/v8/artifacts/events", token,
                "[{\"source\":\"REMOTE\",\"event\":\"HIT\",\"hash\":\"" + hash + "\",\"duration\":239}]").status()).isEqualTo(200);

        String other = "ab".repeat(8);
        assertThat(put("/v1/tenants/acme/cache/dependencies/turbo/" + other, token, utf8("not from turbo")).status()).isEqualTo(201);
        assertThat(get("/cache/turbo/acme/v8/artifacts/" + other, token).status())
                .as("an entry Turborepo did not write is a miss to it, not garbage").isEqualTo(404);
    }

    @Test
    void aClientDisconnectingMidPutLeavesNothing() throws Exception {
        String token = tenant("acme", "pro");
        String entry = "/cache/gradle/acme/" + "cd".repeat(16);
        try (Socket socket = daemon.connect("PUT " + entry + " HTTP/1.1\r\nAuthorization: Bearer " + token
                + "\r\nContent-Length: " + (64 << 20))) {
            OutputStream out = socket.getOutputStream();
            out.write(bytes(8, 4 << 20));
            out.flush();
            await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertThat(uploadTempFiles(dataRoot)).isNotEmpty());
            socket.setSoLinger(true, 0);
        }
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertThat(uploadTempFiles(dataRoot)).isEmpty());
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            var cache = get("/v1/tenants/acme/usage", token).json().get("categories").get("cache");
            assertThat(cache.get("used_bytes").asLong() + cache.get("reserved_bytes").asLong()).as("no quota leaked").isZero();
        });
        assertThat(get(entry, token).status()).isEqualTo(404);
    }
}
