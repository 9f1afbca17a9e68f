package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.builderd.storage.server.DaemonFixture.Response;
import dev.builderd.storage.testing.SeededBytes;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpRequest.BodyPublisher;
import java.net.http.HttpRequest.BodyPublishers;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.Parameter;

/**
 * The shared part of every HTTP test class: a real daemon per test on a fresh data root and a
 * fresh metadata store of the kind under test, and the helpers the tests speak through. Every
 * concrete class is {@code @ParameterizedClass @EnumSource(MetadataKind.class)}, so the same
 * tests run on SQLite and on PostgreSQL.
 */
abstract class HttpApiTestBase {

    static final String ADMIN = DaemonFixture.ADMIN_TOKEN;

    @Parameter(0)
    MetadataKind store;

    @TempDir
    Path dataRoot;

    DaemonFixture daemon;

    /** This test's metadata store (empty: SQLite under the data root). */
    Optional<String> metadataUrl;

    @BeforeEach
    void startDaemon() {
        metadataUrl = store.newMetadataUrl();
        daemon = DaemonFixture.start(dataRoot, metadataUrl, backendEnvironment(), clientTls());
    }

    /** What the test's client trusts when {@link #backendEnvironment()} makes the daemon serve HTTPS; null: plain HTTP. */
    javax.net.ssl.SSLContext clientTls() {
        return null;
    }

    /** Work on one category's store, done behind the daemon's back with a client of the daemon's own configuration. */
    interface StoreWork<T> {
        T apply(dev.builderd.storage.blob.BlobStore store) throws IOException;
    }

    <T> T behindTheDaemon(java.util.function.Function<dev.builderd.storage.core.Stores, dev.builderd.storage.blob.BlobStore> category,
            StoreWork<T> work) {
        Map<String, String> env = new java.util.HashMap<>(backendEnvironment());
        env.put("UNKEY_BUILDERD_DATA_DIR", dataRoot.toString());
        try (StoreComposition stores = StoreComposition.compose(dev.builderd.storage.server.config.ConfigParser.parse(env))) {
            return work.apply(category.apply(stores.stores()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The keys under {@code prefix} in one category's store. */
    List<String> storedKeys(java.util.function.Function<dev.builderd.storage.core.Stores, dev.builderd.storage.blob.BlobStore> category,
            String prefix) {
        return behindTheDaemon(category, store -> {
            List<String> keys = new java.util.ArrayList<>();
            store.list(prefix, null).forEachRemaining(blob -> keys.add(blob.key().value()));
            return keys;
        });
    }

    /** The bytes stored under {@code key} in one category's store (ciphertext, if encrypted). */
    byte[] storedBytes(java.util.function.Function<dev.builderd.storage.core.Stores, dev.builderd.storage.blob.BlobStore> category,
            String key) {
        return behindTheDaemon(category, store -> {
            try (java.io.InputStream in = store.open(dev.builderd.storage.blob.BlobKey.of(key), dev.builderd.storage.blob.ByteRange.ALL)) {
                return in.readAllBytes();
            }
        });
    }

    /** Variables that select the storage backend; none means the filesystem default. */
    Map<String, String> backendEnvironment() {
        return Map.of();
    }

    @AfterEach
    void stopDaemon() {
        if (daemon != null) {
            daemon.close();
        }
    }

    // ---- HTTP ----

    Response get(String path, String token, String... headers) {
        return daemon.send("GET", path, token, null, headers);
    }

    Response head(String path, String token, String... headers) {
        return daemon.send("HEAD", path, token, null, headers);
    }

    Response delete(String path, String token) {
        return daemon.send("DELETE", path, token, null);
    }

    Response put(String path, String token, String body, String... headers) {
        return daemon.send("PUT", path, token, BodyPublishers.ofString(body), headers);
    }

    Response put(String path, String token, byte[] body, String... headers) {
        return daemon.send("PUT", path, token, BodyPublishers.ofByteArray(body), headers);
    }

    Response put(String path, String token, BodyPublisher body, String... headers) {
        return daemon.send("PUT", path, token, body, headers);
    }

    Response post(String path, String token, String body) {
        return daemon.send("POST", path, token, body == null ? null : BodyPublishers.ofString(body),
                "Content-Type", "application/json");
    }

    // ---- tenants, tokens, builds ----

    /** Creates (or updates) a tenant as the admin and returns a fresh token of it. */
    String tenant(String tenant, String tier) {
        Response created = put("/v1/tenants/" + tenant, ADMIN, DaemonFixture.json(Map.of("tier", tier)));
        assertThat(created.status()).as("PUT tenant %s: %s", tenant, created).isIn(200, 201);
        return token(tenant);
    }

    String token(String tenant) {
        return issueToken(tenant).get("token").asText();
    }

    JsonNode issueToken(String tenant) {
        Response issued = post("/v1/tenants/" + tenant + "/tokens", ADMIN, null);
        assertThat(issued.status()).as("issue token: %s", issued).isEqualTo(201);
        return issued.json();
    }

    /** Creates a build with the given id (null: generated) and returns the response JSON. */
    JsonNode build(String tenant, String token, String buildId) {
        Response created = post("/v1/tenants/" + tenant + "/builds", token,
                buildId == null ? "{}" : DaemonFixture.json(Map.of("build_id", buildId)));
        assertThat(created.status()).as("create build: %s", created).isEqualTo(201);
        return created.json();
    }

    static String buildPath(String tenant, String build) {
        return "/v1/tenants/" + tenant + "/builds/" + build;
    }

    static String artifactPath(String tenant, String build, String name) {
        return buildPath(tenant, build) + "/artifacts/" + name;
    }

    Response upload(String tenant, String token, String build, String name, byte[] content, String... headers) {
        return put(artifactPath(tenant, build, name), token, content, headers);
    }

    Response complete(String tenant, String token, String build, String status) {
        return post(buildPath(tenant, build) + "/complete", token, DaemonFixture.json(Map.of("status", status)));
    }

    static Path path(JsonNode build, String category) {
        return Path.of(build.get("paths").get(category).asText());
    }

    static byte[] bytes(long seed, int size) {
        return SeededBytes.array(seed, size);
    }

    static byte[] utf8(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    static String sha256(byte[] content) {
        return SeededBytes.sha256(content);
    }

    // ---- disk ----

    /** Files below {@code root} whose name marks an upload in progress or abandoned. */
    static List<Path> uploadTempFiles(Path root) {
        return walk(root).filter(p -> p.getFileName().toString().startsWith(".~builderd-")).toList();
    }

    static Stream<Path> walk(Path root) {
        try (Stream<Path> files = Files.walk(root)) {
            return files.toList().stream();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The names of the artifacts in the build's manifest, as the API lists it. */
    List<String> manifestNames(String tenant, String token, String build) {
        Response manifest = get(buildPath(tenant, build) + "/artifacts", token);
        assertThat(manifest.status()).as("manifest: %s", manifest).isEqualTo(200);
        return manifest.json().get("artifacts").findValuesAsText("name");
    }

    /** Asserts a problem+json response with {@code status} whose detail mentions every one of {@code words}. */
    static void assertProblem(Response response, int status, String... words) {
        assertThat(response.status()).as("%s", response).isEqualTo(status);
        assertThat(response.header("Content-Type")).as("%s", response).hasValueSatisfying(
                type -> assertThat(type).startsWith("application/problem+json"));
        JsonNode problem = response.json();
        assertThat(problem.get("status").asInt()).isEqualTo(status);
        assertThat(problem.get("detail").asText()).as("%s", response).isNotBlank();
        for (String word : words) {
            assertThat(problem.get("detail").asText()).as("%s", response).contains(word);
        }
    }

    static void write(Path file, String content) {
        try {
            Files.createDirectories(file.getParent());
            Files.writeString(file, content);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
