package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The daemon's log lines as an operator's log pipeline gets them, from a daemon in its own
 * process (logback reads its configuration once per JVM): one line per request with its route
 * template, tenant, status, bytes and duration, as JSON fields with UNKEY_BUILDERD_LOG_FORMAT=json,
 * and never a token.
 */
class LogFormatProcessTest {

    private static final String ADMIN = "admin-token-for-the-log-format-test";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @TempDir
    Path dataRoot;
    private Process daemon;

    @AfterEach
    void stop() throws InterruptedException {
        if (daemon != null) {
            daemon.destroy();
            if (!daemon.waitFor(30, TimeUnit.SECONDS)) {
                daemon.destroyForcibly().waitFor();
            }
        }
    }

    private Process start(Map<String, String> extra, Path log) throws IOException {
        ProcessBuilder builder = new ProcessBuilder(ProcessHandle.current().info().command().orElse("java"),
                // The tests' logback-test.xml would win on this class path: the daemon's own configuration is under test.
                "-Dlogback.configurationFile=logback.xml", "-cp", System.getProperty("java.class.path"), Main.class.getName())
                .redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().keySet().removeIf(name -> name.startsWith("UNKEY_BUILDERD_"));
        builder.environment().put("UNKEY_BUILDERD_DATA_DIR", dataRoot.resolve("data").toString());
        builder.environment().put("UNKEY_BUILDERD_ADMIN_TOKEN", ADMIN);
        builder.environment().put("UNKEY_BUILDERD_BIND_ADDRESS", "127.0.0.1");
        builder.environment().putAll(extra);
        return builder.start();
    }

    private static HttpResponse<String> send(URI base, String method, String path, String token, String body)
            throws IOException, InterruptedException {
        return HTTP.send(HttpRequest.newBuilder(base.resolve(path)).header("Authorization", "Bearer " + token)
                .method(method, HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void jsonLogsHaveOneObjectPerRequestWithItsFieldsAndNoToken() throws Exception {
        int port;
        try (ServerSocket socket = new ServerSocket(0)) {
            port = socket.getLocalPort();
        }
        Path log = dataRoot.resolve("daemon.log");
        daemon = start(Map.of("UNKEY_BUILDERD_LOG_FORMAT", "json", "UNKEY_BUILDERD_PORT", Integer.toString(port)), log);
        URI base = URI.create("http://127.0.0.1:" + port);
        await().atMost(Duration.ofSeconds(60)).ignoreExceptions()
                .until(() -> HTTP.send(HttpRequest.newBuilder(base.resolve("/health/ready")).build(),
                        HttpResponse.BodyHandlers.discarding()).statusCode() == 200);
        assertThat(send(base, "PUT", "/v1/tenants/acme", ADMIN, "{\"tier\":\"pro\"}").statusCode()).isEqualTo(201);
        String token = JSON.readTree(send(base, "POST", "/v1/tenants/acme/tokens", ADMIN, "").body()).get("token").asText();
        assertThat(send(base, "PUT", "/v1/tenants/acme/cache/dependencies/npm/a.tgz", token, "x".repeat(1234)).statusCode()).isEqualTo(201);

        List<JsonNode> requests = await().atMost(Duration.ofSeconds(30)).until(() -> requestLines(log), lines -> lines.size() >= 3);

        JsonNode put = requests.stream().filter(line -> field(line, "route").equals("/v1/tenants/{tenant}/cache/{type}/<key>"))
                .findFirst().orElseThrow();
        assertThat(field(put, "method")).isEqualTo("PUT");
        assertThat(field(put, "tenant")).isEqualTo("acme");
        assertThat(field(put, "status")).isEqualTo("201");
        assertThat(field(put, "bytes_in")).isEqualTo("1234");
        assertThat(field(put, "duration_ms")).isNotEmpty();
        assertThat(Files.readString(log)).as("no token in any line").doesNotContain(token, ADMIN).doesNotContain("bdt_");
    }

    @Test
    void anUnknownLogFormatIsRefusedByName() throws Exception {
        Path log = dataRoot.resolve("daemon.log");
        daemon = start(Map.of("UNKEY_BUILDERD_LOG_FORMAT", "xml", "UNKEY_BUILDERD_PORT", "0"), log);

        assertThat(daemon.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(daemon.exitValue()).isEqualTo(2);
        assertThat(Files.readString(log)).contains("UNKEY_BUILDERD_LOG_FORMAT='xml' is invalid: use text or json");
    }

    /** The JSON lines of the request logger. */
    private static List<JsonNode> requestLines(Path log) throws IOException {
        List<JsonNode> lines = new ArrayList<>();
        for (String line : Files.readAllLines(log)) {
            if (line.startsWith("{")) {
                JsonNode json = JSON.readTree(line);
                if ("builderd.requests".equals(json.path("loggerName").asText())) {
                    lines.add(json);
                }
            }
        }
        return lines;
    }

    /** A key-value pair of a JSON log line (logback's kvpList: a list of one-member objects). */
    private static String field(JsonNode line, String name) {
        for (JsonNode pair : line.path("kvpList")) {
            if (pair.has(name)) {
                return pair.get(name).asText();
            }
        }
        return "";
    }
}
