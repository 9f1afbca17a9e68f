package dev.builderd.storage.server.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.blob.azure.AzureSettings;
import dev.builderd.storage.blob.s3.S3Settings;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The replica target URL and the replication variables. */
class ReplicationConfigTest {

    private static final String AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private static Map<String, String> env(String... pairs) {
        Map<String, String> env = new HashMap<>();
        env.put("UNKEY_BUILDERD_DATA_DIR", "/tmp/builderd-config-test");
        for (int i = 0; i < pairs.length; i += 2) {
            env.put("UNKEY_BUILDERD_" + pairs[i], pairs[i + 1]);
        }
        return env;
    }

    @Test
    void withoutATargetNothingReplicatesAndTheDefaultsHold() {
        DaemonConfig.Replication replication = ConfigParser.parse(env()).replication();

        assertThat(replication.target()).isEmpty();
        assertThat(replication.caches()).isFalse();
        assertThat(replication.schedule().deleteDelay()).isEqualTo(Duration.ofHours(24));
        assertThat(replication.schedule().repairInterval()).isEqualTo(Duration.ofHours(24));
    }

    @Test
    void aFileTargetIsADirectory() {
        DaemonConfig.Replication replication = ConfigParser.parse(env("REPLICA_TARGET", "file:///mnt/replica/builderd",
                "REPLICATION_CACHES", "true", "REPLICATION_DELETE_DELAY_HOURS", "0", "REPLICATION_REPAIR_INTERVAL_HOURS", "6")).replication();

        assertThat(replication.target()).contains(new BlobBackend.Directory(Path.of("/mnt/replica/builderd")));
        assertThat(replication.caches()).isTrue();
        assertThat(replication.schedule().deleteDelay()).isZero();
        assertThat(replication.schedule().repairInterval()).isEqualTo(Duration.ofHours(6));
    }

    @Test
    void anS3TargetTakesBucketPrefixEndpointAndRegionFromTheUrlAndItsKeysFromTheirOwnVariables() {
        DaemonConfig config = ConfigParser.parse(env("REPLICA_TARGET", "s3://replica-bucket/eu/builderd?endpoint=http://127.0.0.1:9000&region=eu-west-1",
                "REPLICA_S3_ACCESS_KEY_ID", "replica-id", "REPLICA_S3_SECRET_ACCESS_KEY", "replica-secret"));

        S3Settings s3 = ((BlobBackend.S3) config.replication().target().orElseThrow()).settings();
        assertThat(s3.bucket()).isEqualTo("replica-bucket");
        assertThat(s3.keyPrefix()).isEqualTo("eu/builderd/");
        assertThat(s3.endpoint()).contains(URI.create("http://127.0.0.1:9000"));
        assertThat(s3.region()).isEqualTo("eu-west-1");
        assertThat(s3.pathStyle()).isTrue();
        assertThat(s3.accessKeyId()).isEqualTo("replica-id");
        assertThat(config.toString()).doesNotContain("replica-secret");
    }

    @Test
    void anAzureTargetTakesAccountContainerAndPrefixFromTheUrl() {
        DaemonConfig config = ConfigParser.parse(env("REPLICA_TARGET", "azure://devstoreaccount1/replica/builderd/?endpoint=http://127.0.0.1:10000/devstoreaccount1",
                "REPLICA_AZURE_ACCESS_KEY", AZURITE_KEY));

        AzureSettings azure = ((BlobBackend.Azure) config.replication().target().orElseThrow()).settings();
        assertThat(azure.account()).isEqualTo("devstoreaccount1");
        assertThat(azure.container()).isEqualTo("replica");
        assertThat(azure.keyPrefix()).isEqualTo("builderd/");
        assertThat(azure.endpoint()).contains(URI.create("http://127.0.0.1:10000/devstoreaccount1"));
    }

    @Test
    void everyMistakeNamesItsVariable() {
        assertThatThrownBy(() -> ConfigParser.parse(env("REPLICA_TARGET", "ftp://host/dir")))
                .hasMessageContaining("UNKEY_BUILDERD_REPLICA_TARGET='ftp://host/dir' is invalid: use a file://, s3:// or azure:// URL");
        assertThatThrownBy(() -> ConfigParser.parse(env("REPLICA_TARGET", "s3://bucket-x/")))
                .hasMessageContaining("UNKEY_BUILDERD_REPLICA_S3_ACCESS_KEY_ID is required")
                .hasMessageContaining("UNKEY_BUILDERD_REPLICA_S3_SECRET_ACCESS_KEY is required");
        assertThatThrownBy(() -> ConfigParser.parse(env("REPLICA_TARGET", "s3://id:secret@bucket-x/")))
                .hasMessageContaining("must carry no credentials").hasMessageNotContaining("secret@");
        assertThatThrownBy(() -> ConfigParser.parse(env("REPLICA_TARGET", "s3://bucket-x/?endpoint=http://h:9000&colour=blue",
                "REPLICA_S3_ACCESS_KEY_ID", "a", "REPLICA_S3_SECRET_ACCESS_KEY", "b")))
                .hasMessageContaining("unknown parameter(s) [colour]");
        assertThatThrownBy(() -> ConfigParser.parse(env("REPLICA_TARGET", "azure://devstoreaccount1/replica/")))
                .hasMessageContaining("UNKEY_BUILDERD_REPLICA_AZURE_ACCESS_KEY is required");
        assertThatThrownBy(() -> ConfigParser.parse(env("REPLICA_TARGET", "file://relative/dir")))
                .hasMessageContaining("use file:///absolute/directory");
        assertThatThrownBy(() -> ConfigParser.parse(env("REPLICATION_DELETE_DELAY_HOURS", "-1")))
                .hasMessageContaining("UNKEY_BUILDERD_REPLICATION_DELETE_DELAY_HOURS='-1' is invalid");
    }
}
