package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.builderd.storage.server.DaemonFixture.Response;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

/** The cache API (issue 6, first part): layers by verified digest, dependencies, git repos, the global registry cache. */
@ParameterizedClass
@EnumSource(MetadataKind.class)
class CachesHttpTest extends HttpApiTestBase {

    private static String layerPath(String tenant, String digest) {
        return "/v1/tenants/" + tenant + "/cache/docker-layers/" + digest;
    }

    private long cacheUsed(String tenant, String token) {
        return get("/v1/tenants/" + tenant + "/usage", token).json().get("categories").get("cache").get("used_bytes").asLong();
    }

    @Test
    void aLayerIsVerifiedAgainstItsDigestStoredOnceAndReadBack() {
        String token = tenant("acme", "pro");
        byte[] layer = bytes(1, 300_000);
        String digest = "sha256:" + sha256(layer);

        Response first = put(layerPath("acme", digest), token, layer);
        Response again = put(layerPath("acme", digest), token, layer);

        assertThat(first.status()).as("%s", first).isEqualTo(201);
        assertThat(again.status()).as("a second write stores nothing").isEqualTo(200);
        assertThat(again.json().get("stored").asBoolean()).isFalse();
        assertThat(get(layerPath("acme", digest), token).body()).isEqualTo(layer);
        assertThat(head(layerPath("acme", digest), token).header("Content-Length")).hasValue("300000");
        assertThat(cacheUsed("acme", token)).as("counted once").isEqualTo(300_000);
        assertThat(get(layerPath("acme", "sha256:" + sha256(utf8("absent"))), token).status()).isEqualTo(404);
        String metrics = get("/metrics", ADMIN).text();
        // The GET and the HEAD above hit, the absent layer missed.
        assertThat(metrics).contains("builderd_cache_lookups_total{cache_type=\"docker-layers\",result=\"hit\",tenant_id=\"acme\"} 2.0");
        assertThat(metrics).contains("builderd_cache_hit_ratio{cache_type=\"docker-layers\",tenant_id=\"acme\"} 0.666");
    }

    /**
     * A layer stored already is answered without its bytes: a client that asked with
     * {@code Expect: 100-continue} is not told to send them; one that sends them all first, more
     * than the sockets buffer and more than a refused body is read, still hears the answer.
     */
    @Test
    void aLayerStoredAlreadyIsAnsweredWhetherTheClientSendsItOrAsksFirst() throws IOException {
        String token = tenant("acme", "pro");
        String body = "x".repeat(12 << 20);
        String digest = "sha256:" + sha256(utf8(body));
        assertThat(put(layerPath("acme", digest), token, body).status()).isEqualTo(201);

        Response whole = daemon.sendOnce("PUT", layerPath("acme", digest), token, body);
        assertThat(whole.status()).as("%s", whole).isEqualTo(200);
        try (Socket asking = daemon.connect("PUT " + layerPath("acme", digest) + " HTTP/1.1\r\nContent-Length: " + body.length()
                + "\r\nExpect: 100-continue\r\nAuthorization: Bearer " + token)) {
            assertThat(new String(asking.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1)).startsWith("HTTP/1.1 200");
        }
        assertThat(cacheUsed("acme", token)).as("counted once").isEqualTo(body.length());
    }

    @Test
    void aLayerThatDoesNotMatchItsDigestIsRefusedAndNothingIsKept() {
        String token = tenant("acme", "pro");
        String wrong = "sha256:" + sha256(utf8("something else"));

        assertProblem(put(layerPath("acme", wrong), token, bytes(2, 1000)), 400, "SHA-256", "nothing was stored");
        assertProblem(put(layerPath("acme", "latest"), token, bytes(2, 10)), 400, "sha256:");
        assertThat(get(layerPath("acme", wrong), token).status()).isEqualTo(404);
        assertThat(cacheUsed("acme", token)).isZero();
    }

    @Test
    void dependenciesAndGitReposAreKeptByNameReplacedAndDeletedWithTheQuotaInStep() {
        String token = tenant("acme", "pro");
        String npm = "/v1/tenants/acme/cache/dependencies/npm/left-pad/-/left-pad-1.3.0.tgz";
        String repo = "/v1/tenants/acme/cache/git-repos/github.com/acme/app.bundle";

        assertThat(put(npm, token, bytes(3, 5000)).status()).isEqualTo(201);
        assertThat(put(npm, token, bytes(4, 2000)).status()).as("replaced").isEqualTo(201);
        assertThat(put(repo, token, bytes(5, 7000)).status()).isEqualTo(201);
        assertThat(get(npm, token).body()).isEqualTo(bytes(4, 2000));
        assertThat(cacheUsed("acme", token)).isEqualTo(9000);
        assertThat(delete(repo, token).status()).isEqualTo(204);
        assertThat(cacheUsed("acme", token)).isEqualTo(2000);

        assertProblem(put("/v1/tenants/acme/cache/dependencies/cargo/x", token, "x"), 400, "npm/, pip/, maven/");
        assertProblem(put("/v1/tenants/acme/cache/git-repos/.hidden", token, "x"), 400, "hidden");
        assertProblem(put("/v1/tenants/acme/cache/apt/x", token, "x"), 400, "docker-layers, dependencies or git-repos");
    }

    @Test
    void aTenantsCacheIsPrivateAndEncryptedWhenTheTenantIs() throws Exception {
        String acme = tenant("acme", "enterprise");
        String globex = tenant("globex", "pro");
        byte[] layer = bytes(6, 4000);
        String digest = "sha256:" + sha256(layer);
        put(layerPath("acme", digest), acme, layer);

        assertThat(get(layerPath("acme", digest), globex).status()).isEqualTo(403);
        assertThat(put(layerPath("acme", digest), globex, layer).status()).isEqualTo(403);
        Path onDisk = dataRoot.resolve("tenants/acme/cache/docker-layers").resolve(digest);
        assertThat(Files.readAllBytes(onDisk)).as("ciphertext at rest").isNotEqualTo(layer);
        assertThat(get(layerPath("acme", digest), acme).body()).isEqualTo(layer);
    }

    @Test
    void aBuildPinsWhatItDeclaresOrReads() {
        String token = tenant("acme", "pro");
        build("acme", token, "b1");
        byte[] layer = bytes(8, 1000);
        String digest = "sha256:" + sha256(layer);
        put(layerPath("acme", digest), token, layer);

        assertThat(post(buildPath("acme", "b1") + "/cache-pins", token,
                "{\"type\":\"dependencies\",\"keys\":[\"npm/a.tgz\"]}").status()).isEqualTo(204);
        assertThat(get(layerPath("acme", digest), token, "X-Builderd-Build", "b1").status()).isEqualTo(200);
        assertProblem(post(buildPath("acme", "b1") + "/cache-pins", token, "{\"type\":\"apt\",\"keys\":[\"x\"]}"), 400, "cache type");
        complete("acme", token, "b1", "succeeded");
        assertProblem(post(buildPath("acme", "b1") + "/cache-pins", token, "{\"type\":\"dependencies\",\"keys\":[\"npm/a.tgz\"]}"),
                409, "not active");
    }

    @Test
    void theGlobalRegistryCacheIsWrittenByTheAdminAndReadByAnyToken() {
        String token = tenant("acme", "pro");
        byte[] layer = bytes(7, 10_000);
        String digest = "sha256:" + sha256(layer);

        assertThat(put("/v1/global/registry-cache/" + digest, token, layer).status()).isEqualTo(403);
        Response stored = put("/v1/global/registry-cache/" + digest, ADMIN, layer);
        assertThat(stored.status()).as("%s", stored).isEqualTo(201);
        JsonNode entry = stored.json();
        assertThat(entry.get("sha256").asText()).isEqualTo(sha256(layer));
        assertThat(get("/v1/global/registry-cache/" + digest, token).body()).isEqualTo(layer);
        assertThat(get("/v1/global/registry-cache/" + digest, null).status()).isEqualTo(401);
        assertProblem(put("/v1/global/registry-cache/sha256:" + sha256(utf8("x")), ADMIN, layer), 400, "SHA-256");
    }
}
