package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.builderd.storage.core.fs.PosixAcls;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.http.HttpRequest.BodyPublishers;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * A tenant's directory protection through the API, the health report and the {@code builderd
 * tenants} commands, with the real {@code setfacl}/{@code getfacl} ({@code bin/test} installs
 * them). Not repeated on PostgreSQL: nothing here touches the metadata store's dialect.
 */
class FilesystemIsolationHttpTest {

    @TempDir
    Path dataRoot;
    @TempDir
    Path scratch;
    DaemonFixture daemon;
    Map<String, String> env;

    @BeforeEach
    void start() {
        assumeTrue(PosixAcls.find().isPresent(), "setfacl/getfacl are not installed (bin/test installs the acl package as root)");
        daemon = DaemonFixture.start(dataRoot, Optional.empty(), Map.of("UNKEY_BUILDERD_SCRATCH_DIR", scratch.toString()));
        env = Map.of("UNKEY_BUILDERD_DATA_DIR", dataRoot.toString(), "UNKEY_BUILDERD_SCRATCH_DIR", scratch.toString(),
                "UNKEY_BUILDERD_ADMIN_TOKEN", DaemonFixture.ADMIN_TOKEN, "UNKEY_BUILDERD_PORT", String.valueOf(daemon.port()));
        assertThat(daemon.send("PUT", "/v1/tenants/acme", DaemonFixture.ADMIN_TOKEN, BodyPublishers.ofString("{\"tier\":\"pro\"}"))
                .status()).isEqualTo(201);
    }

    @AfterEach
    void stop() {
        if (daemon != null) {
            daemon.close();
        }
    }

    private String run(int expectedExit, String... args) {
        StringWriter out = new StringWriter();
        int code = new CommandLine(new TenantsCommand(env)).setOut(new PrintWriter(out)).setErr(new PrintWriter(out)).execute(args);
        assertThat(code).as(out.toString()).isEqualTo(expectedExit);
        return out.toString();
    }

    @Test
    void aTamperedTreeShowsInTheTenantsStatusTheCommandAndTheHealthReport() throws Exception {
        JsonNode fine = daemon.send("GET", "/v1/tenants/acme/filesystem", DaemonFixture.ADMIN_TOKEN, null).json();
        assertThat(fine.path("status").asText()).isEqualTo("as_specified");
        assertThat(fine.path("protection").asText()).isEqualTo("acl");
        assertThat(fine.path("problems")).isEmpty();
        assertThat(run(0, "filesystem", "acme")).contains("\"as_specified\"");
        assertThat(daemon.send("GET", "/health/storage", DaemonFixture.ADMIN_TOKEN, null).json().path("filesystem_isolation")
                .path("status").asText()).isEqualTo("healthy");

        Path tree = scratch.resolve("tenants/acme");
        Process tamper = new ProcessBuilder("setfacl", "-m", "o::rwx", tree.toString()).inheritIO().start();
        assertThat(tamper.waitFor()).isZero();

        JsonNode status = daemon.send("GET", "/v1/tenants/acme/filesystem", DaemonFixture.ADMIN_TOKEN, null).json();
        assertThat(status.path("status").asText()).isEqualTo("mismatch");
        assertThat(status.path("problems").get(0).asText()).contains(tree.toString(), "unexpected other::rwx");
        assertThat(run(1, "filesystem", "acme")).contains("unexpected other::rwx");
        JsonNode health = daemon.send("GET", "/health/storage", DaemonFixture.ADMIN_TOKEN, null).json();
        assertThat(health.path("status").asText()).isEqualTo("degraded");
        assertThat(health.path("filesystem_isolation").path("tenants_not_as_specified").asInt()).isEqualTo(1);
        assertThat(health.path("filesystem_isolation").path("mismatches").path("acme").get(0).asText()).contains("other::rwx");
        // Without the admin token, the report says that something is wrong but not where.
        assertThat(daemon.send("GET", "/health/storage", null, null).json().path("filesystem_isolation").has("mismatches")).isFalse();
    }

    @Test
    void onlyTheAdminChecksATenantsTree() {
        String token = daemon.send("POST", "/v1/tenants/acme/tokens", DaemonFixture.ADMIN_TOKEN, BodyPublishers.noBody()).json()
                .path("token").asText();

        assertThat(daemon.send("GET", "/v1/tenants/acme/filesystem", token, null).status()).isEqualTo(403);
        assertThat(daemon.send("GET", "/v1/tenants/nobody/filesystem", DaemonFixture.ADMIN_TOKEN, null).status()).isEqualTo(404);
    }

    @Test
    void theSelinuxCommandsCoverEveryCategoryRootOfThisConfiguration() {
        assertThat(run(0, "selinux-commands", "acme", "--type", "acme_tenant_t").lines()).containsExactly(
                "semanage fcontext -a -t acme_tenant_t '" + dataRoot + "/tenants/acme(/.*)?'",
                "semanage fcontext -a -t acme_tenant_t '" + scratch + "/tenants/acme(/.*)?'",
                "restorecon -R '" + dataRoot + "/tenants/acme'",
                "restorecon -R '" + scratch + "/tenants/acme'");
    }
}
