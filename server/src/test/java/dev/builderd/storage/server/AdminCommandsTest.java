package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code builderd keys|usage|cache ...} against a running daemon, with the daemon's own environment. */
class AdminCommandsTest {

    @TempDir
    Path dataRoot;

    private DaemonFixture daemon;
    private Map<String, String> env;

    @BeforeEach
    void start() {
        daemon = DaemonFixture.start(dataRoot, Optional.empty(), Map.of());
        env = Map.of("UNKEY_BUILDERD_DATA_DIR", dataRoot.toString(), "UNKEY_BUILDERD_ADMIN_TOKEN", DaemonFixture.ADMIN_TOKEN,
                "UNKEY_BUILDERD_PORT", String.valueOf(daemon.port()));
        daemon.send("PUT", "/v1/tenants/acme", DaemonFixture.ADMIN_TOKEN,
                java.net.http.HttpRequest.BodyPublishers.ofString("{\"tier\":\"enterprise\"}"));
    }

    @AfterEach
    void stop() {
        daemon.close();
    }

    private record Run(int exitCode, String out) {
    }

    private Run run(Map<String, String> environment, String... args) {
        StringWriter out = new StringWriter();
        int code = new CommandLine(new KeysCommand(environment)).setOut(new PrintWriter(out)).setErr(new PrintWriter(out)).execute(args);
        return new Run(code, out.toString());
    }

    @Test
    void rotateReencryptWithProgressAndRotateTheMasterKey() {
        Run rotated = run(env, "rotate", "acme");
        assertThat(rotated.exitCode()).as(rotated.out()).isZero();
        assertThat(rotated.out()).contains("\"keys\" : 2");

        Run reencrypted = run(env, "reencrypt", "acme", "--wait");
        assertThat(reencrypted.exitCode()).as(reencrypted.out()).isZero();
        assertThat(reencrypted.out()).contains("finished: ");
        await().atMost(Duration.ofSeconds(30)).until(() -> run(env, "status", "acme").out().contains("\"keys\" : 1"));

        Run master = run(env, "rotate-master");
        assertThat(master.exitCode()).as(master.out()).isZero();
        assertThat(master.out()).contains("\"older_master_keys_removed\" : true");
    }

    @Test
    void usageShowsTheTenantsCategoriesAndLimits() {
        StringWriter out = new StringWriter();
        int code = new CommandLine(new UsageCommand(env)).setOut(new PrintWriter(out)).execute("acme");

        assertThat(code).as(out.toString()).isZero();
        assertThat(out.toString()).contains("\"state\" : \"ok\"", "\"artifacts\"", "\"limit_bytes\"");
    }

    @Test
    void errorsAreReportedWithANonZeroExitCode() throws Exception {
        Run unknown = run(env, "rotate", "nobody");
        assertThat(unknown.exitCode()).isEqualTo(1);
        assertThat(unknown.out()).contains("nobody");

        Files.writeString(dataRoot.resolve("config/admin.token"), "");
        Run noToken = run(Map.of("UNKEY_BUILDERD_DATA_DIR", dataRoot.resolve("elsewhere").toString()), "status", "acme");
        assertThat(noToken.exitCode()).isNotZero();
        assertThat(noToken.out()).contains("no admin token");
    }

    @Test
    void cacheWarmWaitsForItsJobAndCachePoliciesShowsEachType() throws Exception {
        String layer = "sha256:" + "ab".repeat(32);
        Path keys = dataRoot.resolve("keys.txt");
        Files.writeString(keys, "# layers the next builds pull\n" + layer + "\n");
        StringWriter out = new StringWriter();

        int code = new CommandLine(new CacheCommand(env)).setOut(new PrintWriter(out)).setErr(new PrintWriter(out))
                .execute("warm", "acme", "--type", "docker-layers", "--keys-file", keys.toString(), "--wait");

        assertThat(code).as(out.toString()).isZero();
        assertThat(out.toString()).contains("finished: 0 of 1 entries fetched (0 bytes), 0 local already, 1 missing, 0 failed");
        StringWriter policies = new StringWriter();
        assertThat(new CommandLine(new CacheCommand(env)).setOut(new PrintWriter(policies)).execute("policies", "acme")).isZero();
        assertThat(policies.toString()).contains("\"type\" : \"git-repos\"", "\"eviction_policy\" : \"lru\"");
        StringWriter bad = new StringWriter();
        assertThat(new CommandLine(new CacheCommand(env)).setOut(new PrintWriter(bad)).setErr(new PrintWriter(bad))
                .execute("warm", "acme", "--type", "docker-layers", "--key", "latest")).isEqualTo(1);
        assertThat(bad.toString()).contains("sha256:");
    }

    @Test
    void scrubRunWaitsForItsPassAndExitsZeroWhenNothingIsDamaged() {
        StringWriter out = new StringWriter();

        int code = new CommandLine(new ScrubCommand(env)).setOut(new PrintWriter(out)).setErr(new PrintWriter(out)).execute("run", "--wait");

        assertThat(code).as(out.toString()).isZero();
        assertThat(out.toString()).contains("finished: 0 blobs (0 bytes) checked, 0 damaged", "\"corrupt\" : [ ]");
    }
}
