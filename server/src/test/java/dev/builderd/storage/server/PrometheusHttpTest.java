package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The alert rules in {@code deploy/prometheus} checked and unit-tested by promtool, and a real
 * Prometheus (Debian's, installed by bin/test) scraping a running daemon with the admin token:
 * the series and values arrive, and the rules load.
 */
@ParameterizedClass
@EnumSource(value = MetadataKind.class, names = "SQLITE")
class PrometheusHttpTest extends HttpApiTestBase {

    private static final Path RULES_DIR = Path.of(System.getProperty("user.dir")).getParent().resolve("deploy/prometheus");
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private Process prometheus;

    @AfterEach
    void stopPrometheus() throws InterruptedException {
        if (prometheus != null) {
            prometheus.destroy();
            if (!prometheus.waitFor(20, TimeUnit.SECONDS)) {
                prometheus.destroyForcibly().waitFor();
            }
        }
    }

    private record Run(int exitCode, String output) {
    }

    private static Run run(Path directory, String... command) throws IOException, InterruptedException {
        Process process;
        try {
            process = new ProcessBuilder(command).directory(directory.toFile()).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new IOException(command[0] + " is missing: install Debian's prometheus package (bin/test does so when run as root)", e);
        }
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Run(process.waitFor(), output);
    }

    @Test
    void promtoolChecksTheRulesAndTheirUnitTestsPass() throws Exception {
        Run check = run(RULES_DIR, "promtool", "check", "rules", "builderd-storage.rules.yml");
        Run tests = run(RULES_DIR, "promtool", "test", "rules", "builderd-storage.rules.test.yml");

        assertThat(check.exitCode()).as(check.output()).isZero();
        assertThat(check.output()).contains("SUCCESS: 13 rules found");
        assertThat(tests.exitCode()).as(tests.output()).isZero();
        assertThat(tests.output()).contains("SUCCESS");
    }

    @Test
    void promtoolRefusesARuleTestThatDoesNotHold() throws Exception {
        Path copy = Files.createDirectories(dataRoot.resolve("rules-copy"));
        Files.copy(RULES_DIR.resolve("builderd-storage.rules.yml"), copy.resolve("builderd-storage.rules.yml"));
        Files.writeString(copy.resolve("wrong.test.yml"), Files.readString(RULES_DIR.resolve("builderd-storage.rules.test.yml"))
                .replace("summary: \"Tenant acme quota exceeded\"", "summary: \"Tenant globex quota exceeded\""));

        Run tests = run(copy, "promtool", "test", "rules", "wrong.test.yml");

        assertThat(tests.exitCode()).as(tests.output()).isNotZero();
        assertThat(tests.output()).contains("TenantQuotaExceeded");
    }

    @Test
    void aRealPrometheusScrapesTheDaemonAndSeesTheSeriesArrive() throws Exception {
        String token = tenant("acme", "pro");
        post("/v1/tenants/acme/builds", token, "{\"build_id\":\"b1\"}");
        assertThat(upload("acme", token, "b1", "rootfs.img", bytes(1, 5000)).status()).isEqualTo(201);
        int port = freePort();
        Path config = dataRoot.resolve("prometheus.yml");
        Files.writeString(config, """
                global:
                  scrape_interval: 1s
                  evaluation_interval: 1s
                rule_files:
                  - %s
                scrape_configs:
                  - job_name: builderd
                    authorization:
                      type: Bearer
                      credentials: %s
                    static_configs:
                      - targets: ['127.0.0.1:%d']
                """.formatted(RULES_DIR.resolve("builderd-storage.rules.yml"), ADMIN, daemon.port()));
        prometheus = new ProcessBuilder("prometheus", "--config.file=" + config, "--storage.tsdb.path=" + dataRoot.resolve("tsdb"),
                "--web.listen-address=127.0.0.1:" + port, "--log.level=warn")
                .redirectErrorStream(true).redirectOutput(dataRoot.resolve("prometheus.log").toFile()).start();
        URI api = URI.create("http://127.0.0.1:" + port);

        JsonNode usage = await().atMost(Duration.ofSeconds(60)).ignoreExceptions()
                .until(() -> query(api, "builderd_storage_usage_bytes{tenant_id=\"acme\",storage_type=\"artifacts\"}"), r -> !r.isEmpty());
        assertThat(usage.get(0).get("value").get(1).asText()).isEqualTo("5000");
        assertThat(query(api, "up{job=\"builderd\"}").get(0).get("value").get(1).asText()).as("the scrape succeeds").isEqualTo("1");
        JsonNode requests = query(api, "builderd_http_requests_total{route=\"/v1/tenants/{tenant}/builds/{build}/artifacts/{name}\"}");
        assertThat(requests).as("counters arrive with their labels").isNotEmpty();

        get("/v1/tenants/acme/builds/b1/artifacts/rootfs.img", token);
        await().atMost(Duration.ofSeconds(60)).ignoreExceptions().until(() -> query(api,
                "builderd_http_requests_total{method=\"GET\",route=\"/v1/tenants/{tenant}/builds/{build}/artifacts/{name}\",status=\"200\"}"),
                r -> !r.isEmpty() && r.get(0).get("value").get(1).asText().equals("1"));
        JsonNode groups = get(api, "/api/v1/rules").get("data").get("groups");
        assertThat(groups.findValuesAsText("name")).contains("builderd_storage", "StorageSpaceLow", "TenantQuotaExceeded");
    }

    private static JsonNode query(URI api, String promql) throws IOException, InterruptedException {
        return get(api, "/api/v1/query?query=" + URLEncoder.encode(promql, StandardCharsets.UTF_8)).get("data").get("result");
    }

    private static JsonNode get(URI api, String path) throws IOException, InterruptedException {
        HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(api.resolve(path)).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return new ObjectMapper().readTree(response.body());
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
