package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.builderd.storage.testing.S3ProxyServer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * An S3 primary (its own s3proxy process) replicating to a directory: once the primary's server
 * is killed and its circuit breaker opens, artifacts are served from the replica, while writes
 * fail with 503 rather than land in the replica.
 */
@ParameterizedClass
@EnumSource(value = MetadataKind.class, names = "SQLITE")
class ReplicaFallbackHttpTest extends HttpApiTestBase {

    @TempDir
    static Path replicaRoot;

    private S3ProxyServer primary;

    @Override
    Map<String, String> backendEnvironment() {
        if (primary == null) {
            primary = S3ProxyServer.startPrivate();
        }
        return Map.ofEntries(Map.entry("UNKEY_BUILDERD_STORAGE_BACKEND", "s3"),
                Map.entry("UNKEY_BUILDERD_S3_ENDPOINT", primary.endpoint().toString()),
                Map.entry("UNKEY_BUILDERD_S3_BUCKET", primary.newBucket()),
                Map.entry("UNKEY_BUILDERD_S3_REGION", primary.region()),
                Map.entry("UNKEY_BUILDERD_S3_ACCESS_KEY_ID", primary.accessKey()),
                Map.entry("UNKEY_BUILDERD_S3_SECRET_ACCESS_KEY", primary.secretKey()),
                Map.entry("UNKEY_BUILDERD_STORAGE_MAX_ATTEMPTS", "1"),
                Map.entry("UNKEY_BUILDERD_STORAGE_BREAKER_FAILURES", "1"),
                Map.entry("UNKEY_BUILDERD_STORAGE_BREAKER_OPEN_SECONDS", "600"),
                Map.entry("UNKEY_BUILDERD_CACHE_DISK_TIER_MB", "0"),
                Map.entry("UNKEY_BUILDERD_REPLICA_TARGET", replicaRoot.resolve(dataRoot.getFileName()).toUri().toString()));
    }

    @AfterEach
    void stopPrimary() throws InterruptedException {
        if (primary != null) {
            primary.kill();
        }
    }

    @Test
    void artifactsAreServedFromTheReplicaWhileThePrimaryIsDown() throws InterruptedException {
        String token = tenant("acme", "pro");
        build("acme", token, "b1");
        byte[] image = bytes(5, 100_000);
        assertThat(upload("acme", token, "b1", "rootfs.img", image).status()).isEqualTo(201);
        await().atMost(Duration.ofSeconds(60)).until(() -> get("/v1/admin/replication", ADMIN).json().get("pending").asLong() == 0);

        primary.kill();

        // The first request that needs the primary fails and opens its circuit; from then on reads fall back.
        await().atMost(Duration.ofSeconds(60)).until(() -> get(artifactPath("acme", "b1", "rootfs.img"), token).status() == 200);
        assertThat(get(artifactPath("acme", "b1", "rootfs.img"), token).body()).isEqualTo(image);
        assertThat(get(artifactPath("acme", "b1", "rootfs.img"), token, "Range", "bytes=10-19").body())
                .isEqualTo(java.util.Arrays.copyOfRange(image, 10, 20));
        assertProblem(upload("acme", token, "b1", "other.img", bytes(6, 1000)), 503, "unavailable");
        assertThat(replicaRoot.resolve(dataRoot.getFileName()).resolve("tenants/acme/builds/b1/rootfs/other.img")).doesNotExist();
    }
}
