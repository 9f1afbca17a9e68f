package dev.builderd.storage.server.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.blob.ceph.CephSettings;
import dev.builderd.storage.blob.s3.S3Settings;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import org.slf4j.LoggerFactory;
import dev.builderd.storage.server.mount.NetworkMount;
import java.net.URI;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Backend selection and the spec's variables of each backend. */
class BackendConfigTest {

    private static Map<String, String> env(String... pairs) {
        Map<String, String> env = new HashMap<>();
        for (int i = 0; i < pairs.length; i += 2) {
            env.put("UNKEY_BUILDERD_" + pairs[i], pairs[i + 1]);
        }
        return env;
    }

    @Test
    void s3WithTheSpecsVariables() {
        DaemonConfig config = ConfigParser.parse(env("STORAGE_BACKEND", "s3", "S3_BUCKET", "builderd-artifacts",
                "S3_REGION", "eu-west-1", "S3_ACCESS_KEY_ID", "AKIAEXAMPLE", "S3_SECRET_ACCESS_KEY", "very-secret",
                "S3_ENCRYPTION", "aws:kms", "S3_KMS_KEY_ID", "alias/builderd", "IO_WORKERS", "8", "IO_PART_SIZE_MB", "32"));
        S3Settings s3 = ((BlobBackend.S3) config.artifacts()).settings();
        assertThat(s3.bucket()).isEqualTo("builderd-artifacts");
        assertThat(s3.region()).isEqualTo("eu-west-1");
        assertThat(s3.encryption()).isEqualTo(S3Settings.Encryption.AWS_KMS);
        assertThat(s3.kmsKeyId()).contains("alias/builderd");
        assertThat(s3.endpoint()).isEmpty();
        assertThat(s3.pathStyle()).isFalse();
        assertThat(s3.parallelIo().workers()).isEqualTo(8);
        assertThat(s3.parallelIo().partSize()).isEqualTo(32 << 20);
        assertThat(config.logs()).isSameAs(config.artifacts());
        assertThat(config.toString()).doesNotContain("very-secret");
    }

    @Test
    void minioMapsOntoThePathStyleS3Store() {
        DaemonConfig config = ConfigParser.parse(env("STORAGE_BACKEND", "minio", "MINIO_ENDPOINT", "https://minio.example.com:9000",
                "MINIO_ACCESS_KEY", "builderd", "MINIO_SECRET_KEY", "minio-secret", "MINIO_BUCKET", "builderd-artifacts"));
        BlobBackend.S3 minio = (BlobBackend.S3) config.artifacts();
        assertThat(minio.name()).isEqualTo("minio");
        assertThat(minio.settings().endpoint()).contains(URI.create("https://minio.example.com:9000"));
        assertThat(minio.settings().pathStyle()).isTrue();
    }

    @Test
    void aCephGatewayIsTheS3BackendWithAnEndpoint() {
        DaemonConfig config = ConfigParser.parse(env("STORAGE_BACKEND", "s3", "S3_BUCKET", "builderd", "S3_ENDPOINT",
                "http://rgw.example.com:7480", "S3_ACCESS_KEY_ID", "k", "S3_SECRET_ACCESS_KEY", "s"));
        assertThat(((BlobBackend.S3) config.artifacts()).settings().pathStyle()).isTrue();
    }

    @Test
    void cephNativelyWithTheSpecsVariables(@TempDir Path dir) throws IOException {
        Path keyring = Files.writeString(dir.resolve("ceph.client.builderd.keyring"), "[client.builderd]\n");
        DaemonConfig config = ConfigParser.parse(env("STORAGE_BACKEND", "ceph", "CEPH_MONITORS", "10.0.0.1:6789,10.0.0.2:6789",
                "CEPH_POOL", "builds", "CEPH_USER", "builderd", "CEPH_KEYRING", keyring.toString()));
        CephSettings ceph = ((BlobBackend.Ceph) config.artifacts()).settings();
        assertThat(ceph.monitors()).isEqualTo("10.0.0.1:6789,10.0.0.2:6789");
        assertThat(ceph.pool()).isEqualTo("builds");
        assertThat(ceph.clientName()).isEqualTo("client.builderd");
        assertThat(ceph.keyringFile()).contains(keyring);
        assertThat(ceph.stripeSize()).isEqualTo(CephSettings.DEFAULT_STRIPE_SIZE);
        assertThat(((BlobBackend.Ceph) ConfigParser.parse(env("STORAGE_BACKEND", "ceph", "CEPH_MONITORS", "m", "CEPH_POOL", "p"))
                .artifacts()).settings().clientName()).isEqualTo("client.admin");
        assertThatThrownBy(() -> ConfigParser.parse(env("STORAGE_BACKEND", "ceph", "CEPH_POOL", "p")))
                .hasMessageContaining("UNKEY_BUILDERD_CEPH_MONITORS is required by the ceph backend");
        assertThatThrownBy(() -> ConfigParser.parse(env("STORAGE_BACKEND", "ceph", "CEPH_MONITORS", "m", "CEPH_POOL", "p",
                "CEPH_KEYRING", "/nonexistent/keyring"))).hasMessageContaining("CEPH_KEYRING='/nonexistent/keyring' is not a readable file");
    }

    @Test
    void categoriesCanGoToDifferentBackends() {
        DaemonConfig config = ConfigParser.parse(env("STORAGE_BACKEND", "filesystem", "ARTIFACTS_BACKEND", "azure",
                "AZURE_ACCOUNT", "builderdstorage", "AZURE_CONTAINER", "artifacts", "AZURE_ACCESS_KEY", "a2V5",
                "CACHE_BACKEND", "s3", "S3_BUCKET", "builderd-cache", "S3_ACCESS_KEY_ID", "k", "S3_SECRET_ACCESS_KEY", "s"));
        assertThat(config.artifacts()).isInstanceOf(BlobBackend.Azure.class);
        assertThat(config.logs()).isInstanceOf(BlobBackend.Local.class);
        assertThat(config.caches()).isInstanceOf(BlobBackend.S3.class);
    }

    @Test
    void missingVariablesAreNamedWithTheBackendThatNeedsThem() {
        assertThatThrownBy(() -> ConfigParser.parse(env("STORAGE_BACKEND", "gcs")))
                .hasMessageContaining("UNKEY_BUILDERD_GCS_BUCKET is required by the gcs backend");
        assertThatThrownBy(() -> ConfigParser.parse(env("STORAGE_BACKEND", "azure", "AZURE_ACCOUNT", "a")))
                .hasMessageContaining("UNKEY_BUILDERD_AZURE_CONTAINER is required by the azure backend")
                .hasMessageContaining("UNKEY_BUILDERD_AZURE_ACCESS_KEY is required by the azure backend");
        assertThatThrownBy(() -> ConfigParser.parse(env("STORAGE_BACKEND", "s3", "S3_BUCKET", "Bad_Bucket",
                "S3_ACCESS_KEY_ID", "k", "S3_SECRET_ACCESS_KEY", "hidden-secret")))
                .hasMessageContaining("the s3 backend's settings are invalid").hasMessageNotContaining("hidden-secret");
        assertThatThrownBy(() -> ConfigParser.parse(env("STORAGE_BACKEND", "ceph-fs")))
                .hasMessageContaining("UNKEY_BUILDERD_STORAGE_BACKEND='ceph-fs' is not supported");
    }

    @Test
    void nfsAndIscsiAreTheFilesystemStoreOnAVerifiedMount() {
        DaemonConfig nfs = ConfigParser.parse(env("STORAGE_BACKEND", "nfs", "NFS_SERVER", "storage.example.com",
                "NFS_PATH", "/exports/builderd", "NFS_OPTIONS", "vers=4.1,rsize=1048576,wsize=1048576,hard,intr"));
        assertThat(nfs.artifacts()).isInstanceOf(BlobBackend.Local.class);
        assertThat(nfs.dataRootMount()).contains(new NetworkMount.Nfs("storage.example.com", "/exports/builderd",
                List.of("vers=4.1", "rsize=1048576", "wsize=1048576", "hard", "intr")));

        DaemonConfig iscsi = ConfigParser.parse(env("STORAGE_BACKEND", "iscsi", "ISCSI_TARGET", "iqn.2024-01.com.example:builderd",
                "ISCSI_PORTAL", "storage.example.com:3260", "ISCSI_FILESYSTEM", "xfs"));
        assertThat(iscsi.dataRootMount()).get().isInstanceOfSatisfying(NetworkMount.Iscsi.class,
                mount -> assertThat(mount.filesystem()).isEqualTo("xfs"));
        assertThat(ConfigParser.parse(Map.of()).dataRootMount()).isEqualTo(Optional.empty());
    }

    @Test
    void aVariableOfABackendNoCategoryUsesIsWarnedAbout() {
        Logger logger = (Logger) LoggerFactory.getLogger(ConfigParser.class);
        ListAppender<ILoggingEvent> warnings = new ListAppender<>();
        warnings.start();
        logger.addAppender(warnings);
        try {
            ConfigParser.parse(env("STORAGE_BACKEND", "azure", "AZURE_ACCOUNT", "builderdstorage", "AZURE_CONTAINER", "artifacts",
                    "AZURE_ACCESS_KEY", "a2V5", "S3_BUCKET", "builderd-artifacts"));
        } finally {
            logger.detachAppender(warnings);
        }
        assertThat(warnings.list).extracting(ILoggingEvent::getFormattedMessage).anySatisfy(message -> assertThat(message)
                .contains("UNKEY_BUILDERD_S3_BUCKET is set but no category uses the s3 backend (the storage backend is azure)"));
    }

    @Test
    void storageTlsNeedsReadableFilesAndAnHttpsEndpoint() {
        assertThatThrownBy(() -> ConfigParser.parse(env("STORAGE_BACKEND", "s3", "S3_BUCKET", "builderd", "S3_ENDPOINT",
                "http://rgw.example.com:7480", "S3_ACCESS_KEY_ID", "k", "S3_SECRET_ACCESS_KEY", "s",
                "STORAGE_TLS_ENABLED", "true", "STORAGE_TLS_CA_FILE", "/nonexistent/ca.pem")))
                .hasMessageContaining("UNKEY_BUILDERD_STORAGE_TLS_CA_FILE='/nonexistent/ca.pem' is not a readable file")
                .hasMessageContaining("is not https://");
    }
}
