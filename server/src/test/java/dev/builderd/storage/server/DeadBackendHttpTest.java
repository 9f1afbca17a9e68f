package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.builderd.storage.server.DaemonFixture.Response;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A backend that accepts connections and never answers: requests that need it fail with 503
 * within the request timeout, then at once while the circuit is open, and /health/storage says
 * which backend and why. Requests that do not need it keep working.
 */
@ParameterizedClass
@EnumSource(value = MetadataKind.class, names = "SQLITE")
class DeadBackendHttpTest extends HttpApiTestBase {

    private ServerSocket silent;
    private final List<Socket> accepted = new ArrayList<>();

    @Override
    Map<String, String> backendEnvironment() {
        try {
            silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        Thread.ofVirtual().start(() -> {
            while (!silent.isClosed()) {
                try {
                    accepted.add(silent.accept());
                } catch (IOException closed) {
                    return;
                }
            }
        });
        return Map.of("UNKEY_BUILDERD_STORAGE_BACKEND", "s3",
                "UNKEY_BUILDERD_S3_ENDPOINT", "http://127.0.0.1:" + silent.getLocalPort(),
                "UNKEY_BUILDERD_S3_BUCKET", "never-answers",
                "UNKEY_BUILDERD_S3_ACCESS_KEY_ID", "k",
                "UNKEY_BUILDERD_S3_SECRET_ACCESS_KEY", "s",
                "UNKEY_BUILDERD_STORAGE_REQUEST_TIMEOUT_SECONDS", "1",
                "UNKEY_BUILDERD_STORAGE_MAX_ATTEMPTS", "1",
                "UNKEY_BUILDERD_STORAGE_BREAKER_FAILURES", "2",
                "UNKEY_BUILDERD_STORAGE_BREAKER_OPEN_SECONDS", "600");
    }

    @AfterEach
    void closeSilentServer() throws IOException {
        silent.close();
        for (Socket socket : accepted) {
            socket.close();
        }
    }

    @Test
    void requestsFailWith503ThenFastAndHealthNamesTheBackend() {
        String token = tenant("acme", "pro");
        build("acme", token, "b1");

        for (int i = 0; i < 2; i++) {
            Response upload = upload("acme", token, "b1", "a.bin", utf8("content"));
            assertProblem(upload, 503, "storage failed");
        }
        Response failFast = upload("acme", token, "b1", "a.bin", utf8("content"));
        assertProblem(failFast, 503, "s3 backend is unavailable", "failing fast");

        JsonNode health = get("/health/storage", null).json();
        assertThat(health.get("status").asText()).isEqualTo("unhealthy");
        JsonNode s3 = health.get("backends").get("s3");
        assertThat(s3.get("status").asText()).isEqualTo("unhealthy");
        assertThat(s3.get("circuit").asText()).isEqualTo("open");
        assertThat(s3.get("error").asText()).contains("unavailable");

        assertThat(get(buildPath("acme", "b1"), token).status()).as("builds do not need the backend").isEqualTo(200);
    }
}
