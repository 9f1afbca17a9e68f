package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.builderd.storage.server.DaemonFixture.Response;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** Uploads that end badly or race each other: nothing half-written is ever published or left behind. */
@ParameterizedClass
@EnumSource(MetadataKind.class)
class UploadFailuresHttpTest extends HttpApiTestBase {

    private String token;
    private Path rootfs;

    @BeforeEach
    void createBuild() {
        token = tenant("acme", "pro");
        rootfs = path(build("acme", token, "b1"), "rootfs");
    }

    private String uploadHead(String name, long contentLength) {
        return "PUT " + artifactPath("acme", "b1", name) + " HTTP/1.1\r\nAuthorization: Bearer " + token
                + "\r\nContent-Length: " + contentLength;
    }

    /** The artifacts line of the tenant's quota ledger: used and reserved bytes. */
    private long[] artifactLedger() {
        var artifacts = get("/v1/tenants/acme/usage", token).json().get("categories").get("artifacts");
        return new long[] {artifacts.get("used_bytes").asLong(), artifacts.get("reserved_bytes").asLong()};
    }

    private void assertNoTraceOf(String name) {
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertThat(uploadTempFiles(dataRoot)).isEmpty());
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertThat(artifactLedger()).as("no quota leaked").containsExactly(0, 0));
        assertThat(get(artifactPath("acme", "b1", name), token).status()).isEqualTo(404);
        assertThat(manifestNames("acme", token, "b1")).doesNotContain(name);
        assertThat(rootfs.resolve(name)).doesNotExist();
    }

    @Test
    void bodyShorterThanContentLengthPublishesNothing() {
        String answer = daemon.raw(uploadHead("short.bin", 1000), bytes(5, 10), false);
        assertThat(answer).as("the daemon answers a truncated body with a client error, or not at all")
                .satisfiesAnyOf(a -> assertThat(a).isEmpty(), a -> assertThat(a).startsWith("HTTP/1.1 4"));
        assertNoTraceOf("short.bin");
        assertThat(upload("acme", token, "b1", "short.bin", utf8("whole")).status()).isEqualTo(201);
    }

    @Test
    void clientDisconnectingMidUploadPublishesNothingAndRestartLeavesNoTempFiles() throws Exception {
        try (Socket socket = daemon.connect(uploadHead("cut.bin", 64L << 20))) {
            OutputStream out = socket.getOutputStream();
            out.write(bytes(6, 4 << 20));
            out.flush();
            await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertThat(uploadTempFiles(rootfs)).isNotEmpty());
            socket.setSoLinger(true, 0);
        }
        assertNoTraceOf("cut.bin");

        daemon.restart();
        assertThat(uploadTempFiles(dataRoot)).isEmpty();
        assertThat(get(artifactPath("acme", "b1", "cut.bin"), token).status()).isEqualTo(404);
    }

    @Test
    void restartSweepsUploadsAbandonedByAnotherProcess() throws Exception {
        Path abandoned = rootfs.resolve(".~builderd-999999.crashed-1.partial");
        Files.write(abandoned, bytes(8, 1000));
        assertThat(uploadTempFiles(dataRoot)).containsExactly(abandoned);

        daemon.restart();

        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertThat(uploadTempFiles(dataRoot)).isEmpty());
        assertThat(manifestNames("acme", token, "b1")).isEmpty();
    }

    @Test
    void concurrentUploadsOfOneNameLeaveOneWholeWinner() throws Exception {
        byte[] first = bytes(100, 3 << 20);
        byte[] second = bytes(200, 3 << 20);
        CompletableFuture<Response> a = CompletableFuture.supplyAsync(() -> upload("acme", token, "b1", "same.bin", first));
        CompletableFuture<Response> b = CompletableFuture.supplyAsync(() -> upload("acme", token, "b1", "same.bin", second));
        assertThat(a.get().status()).as("%s", a.get()).isEqualTo(201);
        assertThat(b.get().status()).as("%s", b.get()).isEqualTo(201);

        byte[] stored = get(artifactPath("acme", "b1", "same.bin"), token).body();
        assertThat(List.of(sha256(first), sha256(second))).contains(sha256(stored));
        var entry = get(buildPath("acme", "b1") + "/artifacts", token).json().get("artifacts").get(0);
        assertThat(entry.get("sha256").asText()).isEqualTo(sha256(stored));
        assertThat(rootfs.resolve("same.bin")).hasBinaryContent(stored);
        assertThat(ArtifactsHttpTest.sha256sum(rootfs)).isZero();
        assertThat(uploadTempFiles(dataRoot)).isEmpty();
    }

    @Test
    void deletingABuildDuringAnUploadLeavesNothingBehind() throws Exception {
        byte[] content = bytes(77, 2 << 20);
        String answer;
        CompletableFuture<Response> deletion;
        try (Socket socket = daemon.connect(uploadHead("late.bin", content.length))) {
            OutputStream out = socket.getOutputStream();
            out.write(content, 0, content.length / 2);
            out.flush();
            await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertThat(uploadTempFiles(rootfs)).isNotEmpty());
            deletion = CompletableFuture.supplyAsync(() -> delete(buildPath("acme", "b1"), token));
            out.write(content, content.length / 2, content.length - content.length / 2);
            out.flush();
            socket.shutdownOutput();
            answer = new String(socket.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.ISO_8859_1);
        }
        Response deleted = deletion.get();
        assertThat(deleted.status()).as("%s; upload answered %s", deleted, answer).isIn(204, 409);
        if (deleted.status() == 204) {
            assertThat(get(buildPath("acme", "b1"), token).status()).isEqualTo(404);
            assertThat(dataRoot.resolve("tenants/acme/builds/b1")).as("upload answered %s", answer).doesNotExist();
            await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> assertThat(artifactLedger()).containsExactly(0, 0));
        } else {
            assertThat(answer).startsWith("HTTP/1.1 201");
            assertThat(get(artifactPath("acme", "b1", "late.bin"), token).body()).isEqualTo(content);
            assertThat(artifactLedger()).containsExactly(content.length, 0);
        }
        assertThat(uploadTempFiles(dataRoot)).isEmpty();
    }
}
