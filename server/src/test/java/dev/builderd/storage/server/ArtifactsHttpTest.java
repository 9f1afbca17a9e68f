package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.builderd.storage.server.DaemonFixture.Response;
import dev.builderd.storage.testing.SeededBytes;
import java.io.IOException;
import java.io.InputStream;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** Artifact upload, download (whole, ranges, conditional), deletion, manifest, gzip, logs. */
@ParameterizedClass
@EnumSource(MetadataKind.class)
class ArtifactsHttpTest extends HttpApiTestBase {

    private String token;
    private Path rootfs;

    @BeforeEach
    void createBuild() {
        token = tenant("acme", "pro");
        rootfs = path(build("acme", token, "b1"), "rootfs");
    }

    @Test
    void streamsFiftyMebibytesUpAndDown() throws IOException {
        long seed = 20261125L;
        long size = 50L << 20;
        String expected = SeededBytes.sha256(seed, size);
        Response uploaded = put(artifactPath("acme", "b1", "big.img"), token,
                BodyPublishers.ofInputStream(() -> SeededBytes.stream(seed, size)));
        assertThat(uploaded.status()).as("seed %d: %s", seed, uploaded).isEqualTo(201);
        JsonNode info = uploaded.json();
        assertThat(info.get("name").asText()).isEqualTo("big.img");
        assertThat(info.get("size").asLong()).isEqualTo(size);
        assertThat(info.get("sha256").asText()).isEqualTo(expected);

        HttpResponse<InputStream> download = daemon.stream(artifactPath("acme", "b1", "big.img"), token);
        assertThat(download.statusCode()).isEqualTo(200);
        try (InputStream body = download.body()) {
            assertThat(SeededBytes.sha256(body)).isEqualTo(expected);
        }
        assertThat(rootfs.resolve("big.img")).hasSize(size);
    }

    @Test
    void declaredChecksumIsVerified() {
        byte[] content = bytes(1, 10_000);
        Response good = upload("acme", token, "b1", "good.bin", content, "X-Checksum-Sha256", sha256(content).toUpperCase());
        assertThat(good.status()).as("%s", good).isEqualTo(201);

        Response bad = upload("acme", token, "b1", "bad.bin", content, "X-Checksum-Sha256", sha256(utf8("other")));
        assertProblem(bad, 400, "SHA-256", "X-Checksum-Sha256");
        assertProblem(get(artifactPath("acme", "b1", "bad.bin"), token), 404, "bad.bin");
        assertThat(manifestNames("acme", token, "b1")).containsExactly("good.bin");
        assertThat(rootfs.resolve("bad.bin")).doesNotExist();
        assertThat(uploadTempFiles(dataRoot)).isEmpty();

        assertProblem(upload("acme", token, "b1", "junk.bin", content, "X-Checksum-Sha256", "not-hex"), 400, "64 hex");
        assertThat(rootfs.resolve("junk.bin")).doesNotExist();
    }

    @Test
    void mismatchDoesNotReplaceAnExistingArtifact() {
        assertThat(upload("acme", token, "b1", "a.bin", utf8("first")).status()).isEqualTo(201);
        assertProblem(upload("acme", token, "b1", "a.bin", utf8("second"), "X-Checksum-Sha256", sha256(utf8("nope"))), 400);
        assertThat(get(artifactPath("acme", "b1", "a.bin"), token).text()).isEqualTo("first");
        assertThat(rootfs.resolve("a.bin")).hasContent("first");
    }

    @Test
    void getWithEtagConditionalAndRanges() {
        byte[] content = bytes(3, 1000);
        String sha = sha256(content);
        assertThat(upload("acme", token, "b1", "a.bin", content).status()).isEqualTo(201);
        String path = artifactPath("acme", "b1", "a.bin");

        Response whole = get(path, token);
        assertThat(whole.status()).isEqualTo(200);
        assertThat(whole.body()).isEqualTo(content);
        assertThat(whole.header("ETag")).contains("\"" + sha + "\"");

        Response notModified = get(path, token, "If-None-Match", "\"" + sha + "\"");
        assertThat(notModified.status()).isEqualTo(304);
        assertThat(notModified.body()).isEmpty();
        assertThat(get(path, token, "If-None-Match", "\"" + sha256(utf8("x")) + "\"").status()).isEqualTo(200);

        Response first = get(path, token, "Range", "bytes=0-99");
        assertThat(first.status()).isEqualTo(206);
        assertThat(first.body()).isEqualTo(Arrays.copyOfRange(content, 0, 100));
        assertThat(first.header("Content-Range")).contains("bytes 0-99/1000");

        Response suffix = get(path, token, "Range", "bytes=-10");
        assertThat(suffix.status()).isEqualTo(206);
        assertThat(suffix.body()).isEqualTo(Arrays.copyOfRange(content, 990, 1000));
        assertThat(suffix.header("Content-Range")).contains("bytes 990-999/1000");

        Response open = get(path, token, "Range", "bytes=100-");
        assertThat(open.status()).isEqualTo(206);
        assertThat(open.body()).isEqualTo(Arrays.copyOfRange(content, 100, 1000));

        Response past = get(path, token, "Range", "bytes=1000-");
        assertThat(past.status()).isEqualTo(416);
        assertThat(past.header("Content-Range")).contains("bytes */1000");

        Response headers = head(path, token);
        assertThat(headers.status()).isEqualTo(200);
        assertThat(headers.header("Content-Length")).contains("1000");
        assertThat(headers.header("ETag")).contains("\"" + sha + "\"");
        assertThat(headers.body()).isEmpty();
    }

    @Test
    void deleteRemovesFileAndManifestEntry() {
        assertThat(upload("acme", token, "b1", "a.bin", utf8("a")).status()).isEqualTo(201);
        assertThat(upload("acme", token, "b1", "b.bin", utf8("b")).status()).isEqualTo(201);
        assertThat(delete(artifactPath("acme", "b1", "a.bin"), token).status()).isEqualTo(204);
        assertThat(get(artifactPath("acme", "b1", "a.bin"), token).status()).isEqualTo(404);
        assertThat(head(artifactPath("acme", "b1", "a.bin"), token).status()).isEqualTo(404);
        assertThat(rootfs.resolve("a.bin")).doesNotExist();
        assertThat(manifestNames("acme", token, "b1")).containsExactly("b.bin");
        assertThat(delete(artifactPath("acme", "b1", "a.bin"), token).status()).isEqualTo(404);
    }

    @Test
    void manifestAndChecksumsOnDiskMatchAndVerifyWithSha256sum() throws Exception {
        byte[] a = bytes(10, 5000);
        byte[] b = bytes(11, 7);
        assertThat(upload("acme", token, "b1", "kernel-6.1.img", a).status()).isEqualTo(201);
        assertThat(upload("acme", token, "b1", "rootfs.tar", b).status()).isEqualTo(201);

        JsonNode listed = get(buildPath("acme", "b1") + "/artifacts", token).json();
        assertThat(listed.get("build_id").asText()).isEqualTo("b1");
        assertThat(listed.get("artifacts").findValuesAsText("sha256")).containsExactlyInAnyOrder(sha256(a), sha256(b));
        JsonNode onDisk = new ObjectMapper().readTree(rootfs.resolve("manifest.json").toFile());
        assertThat(onDisk).isEqualTo(listed);
        assertThat(Files.readAllLines(rootfs.resolve("checksums.sha256"))).containsExactlyInAnyOrder(
                sha256(a) + "  kernel-6.1.img", sha256(b) + "  rootfs.tar");

        assertSha256sumPasses(rootfs);
        Files.write(rootfs.resolve("rootfs.tar"), utf8("tampered"));
        assertThat(sha256sum(rootfs)).as("sha256sum must notice tampering").isNotZero();
    }

    static void assertSha256sumPasses(Path rootfs) throws Exception {
        assertThat(sha256sum(rootfs)).isZero();
    }

    static int sha256sum(Path directory) throws Exception {
        Process process = new ProcessBuilder("sha256sum", "-c", "checksums.sha256").directory(directory.toFile())
                .redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        int exit = process.waitFor();
        System.out.println("sha256sum -c: " + output);
        return exit;
    }

    @Test
    void gzipPublishesACompressedVariant() throws IOException {
        byte[] content = bytes(12, 200_000);
        assertThat(upload("acme", token, "b1", "disk.img", content).status()).isEqualTo(201);
        Response gz = post(artifactPath("acme", "b1", "disk.img") + "/gzip", token, null);
        assertThat(gz.status()).as("%s", gz).isEqualTo(201);
        assertThat(gz.json().get("name").asText()).isEqualTo("disk.img.gz");

        byte[] compressed = get(artifactPath("acme", "b1", "disk.img.gz"), token).body();
        assertThat(sha256(compressed)).isEqualTo(gz.json().get("sha256").asText());
        try (InputStream in = new GZIPInputStream(new java.io.ByteArrayInputStream(compressed))) {
            assertThat(SeededBytes.sha256(in)).isEqualTo(sha256(content));
        }
        assertThat(manifestNames("acme", token, "b1")).containsExactlyInAnyOrder("disk.img", "disk.img.gz");
        assertProblem(post(artifactPath("acme", "b1", "missing.img") + "/gzip", token, null), 404);
    }

    @Test
    void reservedNamesAreRefused() {
        for (String name : List.of("manifest.json", "checksums.sha256")) {
            assertProblem(upload("acme", token, "b1", name, utf8("{}")), 400, name);
        }
        assertThat(rootfs.resolve("manifest.json")).doesNotExist();
    }

    @Test
    void uploadsToUnknownBuildOrTenantAre404() {
        assertProblem(upload("acme", token, "nope", "a.bin", utf8("x")), 404, "nope");
        assertProblem(upload("ghost", ADMIN, "b1", "a.bin", utf8("x")), 404);
        assertThat(dataRoot.resolve("tenants/acme/builds/nope")).doesNotExist();
        assertThat(dataRoot.resolve("tenants/ghost")).doesNotExist();
    }

    @Test
    void logsPutGetList() {
        String logs = buildPath("acme", "b1") + "/logs";
        assertThat(put(logs + "/build.log", token, "line 1\nline 2\n").status()).isEqualTo(201);
        assertThat(put(logs + "/test.log", token, "t").status()).isEqualTo(201);
        assertThat(put(logs + "/build.log", token, "replaced\n").status()).isEqualTo(201);

        assertThat(get(logs + "/build.log", token).text()).isEqualTo("replaced\n");
        JsonNode list = get(logs, token).json().get("logs");
        assertThat(list.findValuesAsText("name")).containsExactly("build.log", "test.log");
        assertThat(list.findValues("size").stream().map(JsonNode::asLong)).containsExactly(9L, 1L);
        assertProblem(get(logs + "/missing.log", token), 404, "missing.log");
        assertThat(path(build("acme", token, "b2"), "logs")).isEmptyDirectory();
    }

    @Test
    void artifactFileGoneFromDiskIsAWholeProblemResponse() throws IOException {
        assertThat(upload("acme", token, "b1", "a.bin", utf8("tiny")).status()).isEqualTo(201);
        Files.delete(rootfs.resolve("a.bin"));
        for (String[] headers : List.of(new String[0], new String[] {"Range", "bytes=0-1"})) {
            Response response = get(artifactPath("acme", "b1", "a.bin"), token, headers);
            assertThat(response.status()).as("%s", response).isIn(404, 500);
            assertThat(response.header("Content-Type")).hasValueSatisfying(
                    type -> assertThat(type).startsWith("application/problem+json"));
            assertThat(response.header("Content-Range")).isEmpty();
            assertThat(response.json().get("detail").asText()).contains("a.bin");
        }
    }

    @Test
    void rangeEdgesAndEmptyArtifacts() {
        byte[] content = bytes(4, 1000);
        assertThat(upload("acme", token, "b1", "a.bin", content).status()).isEqualTo(201);
        String path = artifactPath("acme", "b1", "a.bin");

        Response last = get(path, token, "Range", "bytes=999-999");
        assertThat(last.status()).isEqualTo(206);
        assertThat(last.body()).containsExactly(content[999]);
        Response clamped = get(path, token, "Range", "bytes=990-5000");
        assertThat(clamped.header("Content-Range")).contains("bytes 990-999/1000");
        assertThat(clamped.body()).hasSize(10);
        assertThat(get(path, token, "Range", "bytes=5-2").status()).as("invalid: ignored").isEqualTo(200);
        assertThat(get(path, token, "Range", "bytes=0-1,5-6").status()).as("several: whole").isEqualTo(200);
        assertThat(get(path, token, "Range", "bytes=-0").status()).isEqualTo(416);
        assertThat(get(path, token, "If-None-Match", "*").status()).isEqualTo(304);

        Response empty = upload("acme", token, "b1", "empty.bin", new byte[0]);
        assertThat(empty.status()).as("%s", empty).isEqualTo(201);
        assertThat(empty.json().get("size").asLong()).isZero();
        assertThat(empty.json().get("sha256").asText()).isEqualTo(sha256(new byte[0]));
        Response whole = get(artifactPath("acme", "b1", "empty.bin"), token);
        assertThat(whole.status()).isEqualTo(200);
        assertThat(whole.body()).isEmpty();
        Response past = get(artifactPath("acme", "b1", "empty.bin"), token, "Range", "bytes=0-");
        assertThat(past.status()).isEqualTo(416);
        assertThat(past.header("Content-Range")).contains("bytes */0");
    }

    @Test
    void parallelUploadsOfManyNamesAllReachTheManifest() throws Exception {
        int count = 12;
        List<java.util.concurrent.CompletableFuture<Response>> uploads = new java.util.ArrayList<>();
        for (int i = 0; i < count; i++) {
            byte[] content = bytes(1000 + i, 100_000 + i);
            String name = "part-" + i + ".bin";
            uploads.add(java.util.concurrent.CompletableFuture.supplyAsync(() -> upload("acme", token, "b1", name, content)));
        }
        for (var upload : uploads) {
            assertThat(upload.get().status()).as("%s", upload.get()).isEqualTo(201);
        }
        assertThat(manifestNames("acme", token, "b1")).hasSize(count);
        assertThat(Files.readAllLines(rootfs.resolve("checksums.sha256"))).hasSize(count);
        assertThat(new ObjectMapper().readTree(rootfs.resolve("manifest.json").toFile()).get("artifacts")).hasSize(count);
        assertSha256sumPasses(rootfs);
    }
}
