package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.builderd.storage.testing.AzuriteServer;
import dev.builderd.storage.testing.S3ProxyServer;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.http.HttpRequest;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * Backups of a running daemon into each kind of target (a directory, a real S3 server, a real
 * Azure emulator), driven by the {@code builderd backup} commands and the admin API.
 */
class BackupHttpTest {

    @TempDir
    Path dataRoot;
    @TempDir
    Path backupDirectory;

    private DaemonFixture daemon;
    private Map<String, String> env;

    private Map<String, String> target(String kind) {
        return switch (kind) {
            case "file" -> Map.of("UNKEY_BUILDERD_BACKUP_TARGET", backupDirectory.toUri().toString().replaceFirst("^file:/+", "file:///"));
            case "s3" -> {
                S3ProxyServer s3 = S3ProxyServer.shared();
                yield Map.of("UNKEY_BUILDERD_BACKUP_TARGET", "s3://" + s3.newBucket() + "/backups/?endpoint=" + s3.endpoint()
                                + "&region=" + s3.region(),
                        "UNKEY_BUILDERD_BACKUP_S3_ACCESS_KEY_ID", s3.accessKey(),
                        "UNKEY_BUILDERD_BACKUP_S3_SECRET_ACCESS_KEY", s3.secretKey());
            }
            case "azure" -> {
                AzuriteServer.Container container = AzuriteServer.shared().newContainer();
                yield Map.of("UNKEY_BUILDERD_BACKUP_TARGET", "azure://" + container.account() + "/" + container.name()
                                + "/backups/?endpoint=" + container.endpoint(),
                        "UNKEY_BUILDERD_BACKUP_AZURE_ACCESS_KEY", container.accessKey());
            }
            default -> throw new IllegalArgumentException(kind);
        };
    }

    private void start(String targetKind) {
        Map<String, String> extra = new HashMap<>(target(targetKind));
        extra.put("UNKEY_BUILDERD_BACKUP_SCHEDULE", "off");
        daemon = DaemonFixture.start(dataRoot, Optional.empty(), extra);
        env = new HashMap<>(extra);
        env.putAll(Map.of("UNKEY_BUILDERD_DATA_DIR", dataRoot.toString(), "UNKEY_BUILDERD_ADMIN_TOKEN", DaemonFixture.ADMIN_TOKEN,
                "UNKEY_BUILDERD_PORT", String.valueOf(daemon.port())));
    }

    @AfterEach
    void stop() {
        if (daemon != null) {
            daemon.close();
        }
    }

    private record Run(int exitCode, String out) {
    }

    private Run backup(String... args) {
        StringWriter out = new StringWriter();
        int code = new CommandLine(new BackupCommand(env)).setOut(new PrintWriter(out)).setErr(new PrintWriter(out)).execute(args);
        return new Run(code, out.toString());
    }

    private DaemonFixture.Response admin(String method, String path, String body) {
        return daemon.send(method, path, DaemonFixture.ADMIN_TOKEN,
                body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    }

    @ParameterizedTest(name = "{0} target")
    @ValueSource(strings = {"file", "s3", "azure"})
    void aBuildDeletedByMistakeComesBackFromTheBackupOfAnEncryptedTenant(String targetKind) {
        start(targetKind);
        assertThat(admin("PUT", "/v1/tenants/acme", "{\"tier\":\"enterprise\"}").status()).isIn(200, 201);
        assertThat(admin("POST", "/v1/tenants/acme/builds", "{\"build_id\":\"b1\"}").status()).isEqualTo(201);
        assertThat(admin("PUT", "/v1/tenants/acme/builds/b1/artifacts/rootfs.img", "the image of build one").status()).isEqualTo(201);
        assertThat(admin("POST", "/v1/tenants/acme/builds/b1/complete", "{\"status\":\"succeeded\"}").status()).isEqualTo(200);

        Run created = backup("create", "--tenant", "acme");
        assertThat(created.exitCode()).as(created.out()).isZero();
        assertThat(created.out()).contains("\"state\" : \"finished\"", "\"copied_objects\" : 1");
        Run again = backup("create");
        assertThat(again.out()).as("an unchanged tenant copies nothing").contains("\"copied_objects\" : 0");
        Run listed = backup("list", "--tenant", "acme");
        assertThat(listed.out()).contains("\"tenant_id\" : \"acme\"", "\"encryption\" : true");

        assertThat(admin("DELETE", "/v1/tenants/acme/builds/b1", null).status()).isEqualTo(204);
        assertThat(admin("GET", "/v1/tenants/acme/builds/b1/artifacts/rootfs.img", null).status()).isEqualTo(404);
        Run restored = backup("restore", "--tenant", "acme", "--build", "b1");
        assertThat(restored.exitCode()).as(restored.out()).isZero();

        assertThat(admin("GET", "/v1/tenants/acme/builds/b1/artifacts/rootfs.img", null).text()).isEqualTo("the image of build one");
        Run verified = backup("verify");
        assertThat(verified.exitCode()).as(verified.out()).isZero();
        assertThat(verified.out()).contains("\"problems\" : [ ]");
        Run pruned = backup("prune", "--keep-daily", "0", "--keep-weekly", "0", "--keep-monthly", "0");
        assertThat(pruned.exitCode()).as(pruned.out()).isZero();
        assertThat(backup("list").out()).as("keep_last 1 keeps the newest").containsOnlyOnce("\"id\"");
        assertThat(admin("GET", "/metrics", null).text()).contains("builderd_backup_last_success_timestamp_seconds{kind=\"backup\"}");
        assertThat(admin("GET", "/health/storage", null).json().path("backups").path("status").asText()).isEqualTo("healthy");
    }

    @Test
    void withoutATargetBackupsAnswerWhatToConfigure() {
        daemon = DaemonFixture.start(dataRoot, Optional.empty(), Map.of());
        DaemonFixture.Response answer = admin("POST", "/v1/admin/backups", null);
        assertThat(answer.status()).isEqualTo(404);
        assertThat(answer.text()).contains("UNKEY_BUILDERD_BACKUP_TARGET");
    }
}
