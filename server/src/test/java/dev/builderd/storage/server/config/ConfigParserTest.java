package dev.builderd.storage.server.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.core.crypto.EncryptionConfig;
import dev.builderd.storage.core.metadata.MetadataLocation;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ConfigParserTest {

    @Test
    void defaultsFollowTheSpecification() {
        DaemonConfig config = ConfigParser.parse(Map.of());
        assertThat(config.port()).isEqualTo(8082);
        assertThat(config.dataRoot()).isEqualTo(Path.of("/var/lib/builderd"));
        assertThat(config.artifacts()).isInstanceOf(BlobBackend.Local.class);
        assertThat(config.layout().rootfsRoot()).isEqualTo(config.dataRoot());
        assertThat(config.metadata().jdbcUrl()).isEqualTo("jdbc:sqlite:/var/lib/builderd/metadata/builderd.db");
        assertThat(config.adminToken()).isEmpty();
        assertThat(config.buildLease()).isEqualTo(Duration.ofMinutes(15));
        assertThat(config.encryption().master()).isEqualTo(new EncryptionConfig.MasterKeyOrigin.KeyFile(
                Path.of("/var/lib/builderd/config/encryption-keys/master.key")));
        assertThat(config.encryption().keyRotationInterval()).isEqualTo(Duration.ofDays(90));
    }

    @Test
    void theMasterKeyComesFromAFileOrFromTheEnvironmentAndIsNeverEchoed() throws Exception {
        DaemonConfig fromFile = ConfigParser.parse(Map.of("UNKEY_BUILDERD_MASTER_KEY_FILE", "/etc/builderd/master.key",
                "UNKEY_BUILDERD_KEY_ROTATION_DAYS", "0"));
        assertThat(fromFile.encryption().master()).isEqualTo(new EncryptionConfig.MasterKeyOrigin.KeyFile(Path.of("/etc/builderd/master.key")));
        assertThat(fromFile.encryption().keyRotationInterval()).isZero();

        com.google.crypto.tink.aead.AeadConfig.register();
        String keyset = com.google.crypto.tink.TinkJsonProtoKeysetFormat.serializeKeyset(
                com.google.crypto.tink.KeysetHandle.generateNew(com.google.crypto.tink.aead.PredefinedAeadParameters.AES256_GCM),
                com.google.crypto.tink.InsecureSecretKeyAccess.get());
        DaemonConfig given = ConfigParser.parse(Map.of("UNKEY_BUILDERD_MASTER_KEY", keyset));
        assertThat(given.encryption().master()).isInstanceOf(EncryptionConfig.MasterKeyOrigin.Given.class);
        String secret = keyset.substring(keyset.indexOf("\"value\""), keyset.indexOf("\"value\"") + 40);
        assertThat(given.toString()).doesNotContain(secret).contains("UNKEY_BUILDERD_MASTER_KEY");

        String broken = keyset.substring(0, keyset.length() / 2);
        assertThatThrownBy(() -> ConfigParser.parse(Map.of("UNKEY_BUILDERD_MASTER_KEY", broken)))
                .hasMessageContaining("UNKEY_BUILDERD_MASTER_KEY is not a Tink AEAD keyset")
                .message().doesNotContain(broken.substring(broken.length() - 20));
        assertThatThrownBy(() -> ConfigParser.parse(Map.of("UNKEY_BUILDERD_MASTER_KEY", keyset,
                "UNKEY_BUILDERD_MASTER_KEY_FILE", "/k"))).hasMessageContaining("not both");
        assertThatThrownBy(() -> ConfigParser.parse(Map.of("UNKEY_BUILDERD_KEY_ROTATION_DAYS", "-1")))
                .hasMessageContaining("UNKEY_BUILDERD_KEY_ROTATION_DAYS");
    }

    @Test
    void everyVariableIsRead() {
        DaemonConfig config = ConfigParser.parse(Map.ofEntries(
                Map.entry("UNKEY_BUILDERD_PORT", "9000"),
                Map.entry("UNKEY_BUILDERD_BIND_ADDRESS", "127.0.0.1"),
                Map.entry("UNKEY_BUILDERD_DATA_DIR", "/srv/b"),
                Map.entry("UNKEY_BUILDERD_STORAGE_BACKEND", "local"),
                Map.entry("UNKEY_BUILDERD_SCRATCH_DIR", "/fast"),
                Map.entry("UNKEY_BUILDERD_WORKSPACE_DIR", "/ws"),
                Map.entry("UNKEY_BUILDERD_ROOTFS_OUTPUT_DIR", "/out"),
                Map.entry("UNKEY_BUILDERD_CACHE_DIR", "/cache"),
                Map.entry("UNKEY_BUILDERD_ADMIN_TOKEN", "0123456789abcdef"),
                Map.entry("UNKEY_BUILDERD_METADATA_URL", "postgresql://u@h/db"),
                Map.entry("UNKEY_BUILDERD_BUILD_LEASE_SECONDS", "60"),
                Map.entry("UNKEY_BUILDERD_MAX_BUILD_LEASE_SECONDS", "120"),
                Map.entry("UNKEY_BUILDERD_LEASE_CHECK_SECONDS", "5")));
        assertThat(config.port()).isEqualTo(9000);
        assertThat(config.bindAddress()).isEqualTo("127.0.0.1");
        assertThat(config.layout().scratchRoot()).isEqualTo(Path.of("/fast"));
        assertThat(config.layout().workspaceRoot()).isEqualTo(Path.of("/ws"));
        assertThat(config.layout().rootfsRoot()).isEqualTo(Path.of("/out"));
        assertThat(config.layout().cacheRoot()).isEqualTo(Path.of("/cache"));
        assertThat(config.adminToken()).get().extracting(DaemonConfig.Secret::value).isEqualTo("0123456789abcdef");
        assertThat(config.adminToken().get().toString()).doesNotContain("0123");
        assertThat(config.metadata().dialect()).isEqualTo(MetadataLocation.Dialect.POSTGRESQL);
        assertThat(config.leaseCheckInterval()).isEqualTo(Duration.ofSeconds(5));
    }

    @Test
    void everyBadValueIsReportedAtOnceNamingItsVariableAndTheAcceptedValues() {
        assertThatThrownBy(() -> ConfigParser.parse(Map.of(
                "UNKEY_BUILDERD_PORT", "80a",
                "UNKEY_BUILDERD_STORAGE_BACKEND", "s4",
                "UNKEY_BUILDERD_ADMIN_TOKEN", "short",
                "UNKEY_BUILDERD_METADATA_URL", "mysql://x/y",
                "UNKEY_BUILDERD_BUILD_LEASE_SECONDS", "0")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("UNKEY_BUILDERD_PORT='80a' is invalid: use a whole number from 0 to 65535")
                .hasMessageContaining("UNKEY_BUILDERD_STORAGE_BACKEND='s4' is not supported: use filesystem")
                .hasMessageContaining("UNKEY_BUILDERD_ADMIN_TOKEN is invalid")
                .hasMessageNotContaining("short")
                .hasMessageContaining("UNKEY_BUILDERD_METADATA_URL is invalid")
                .hasMessageContaining("UNKEY_BUILDERD_BUILD_LEASE_SECONDS='0' is invalid");
    }

    @Test
    void aMaximumLeaseBelowTheDefaultIsRefused() {
        assertThatThrownBy(() -> ConfigParser.parse(Map.of("UNKEY_BUILDERD_MAX_BUILD_LEASE_SECONDS", "60")))
                .hasMessageContaining("UNKEY_BUILDERD_MAX_BUILD_LEASE_SECONDS (60) must not be below UNKEY_BUILDERD_BUILD_LEASE_SECONDS (900)");
    }

    @Test
    void unknownVariablesOfOurPrefixDoNotStopStartUp() {
        assertThat(ConfigParser.parse(Map.of("UNKEY_BUILDERD_PROT", "1")).port()).isEqualTo(8082);
    }

    @Test
    void theHelpTableListsEveryVariableWithItsDefault() {
        String help = Variable.helpTable();
        for (Variable variable : Variable.values()) {
            assertThat(help).contains(variable.envName()).contains(variable.defaultValue());
        }
    }

    @Test
    void fairnessLimitsAreOnAndTheAuditLogIsUnderTheDataRootUnlessToldOtherwise() {
        DaemonConfig defaults = ConfigParser.parse(Map.of("UNKEY_BUILDERD_DATA_DIR", "/srv/builderd"));
        assertThat(defaults.rateLimits()).isTrue();
        assertThat(defaults.auditLogFile()).contains(Path.of("/srv/builderd/global/audit/audit.log"));
        DaemonConfig set = ConfigParser.parse(Map.of("UNKEY_BUILDERD_RATE_LIMITS", "false", "UNKEY_BUILDERD_AUDIT_LOG_FILE", "stderr"));
        assertThat(set.rateLimits()).isFalse();
        assertThat(set.auditLogFile()).isEmpty();
        assertThat(ConfigParser.parse(Map.of("UNKEY_BUILDERD_AUDIT_LOG_FILE", "/var/log/builderd/audit.log")).auditLogFile())
                .contains(Path.of("/var/log/builderd/audit.log"));
        assertThatThrownBy(() -> ConfigParser.parse(Map.of("UNKEY_BUILDERD_RATE_LIMITS", "sometimes")))
                .hasMessageContaining("UNKEY_BUILDERD_RATE_LIMITS='sometimes' is invalid: use true or false");
    }
}
