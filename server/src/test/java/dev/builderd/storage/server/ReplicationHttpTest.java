package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.server.config.ConfigParser;
import dev.builderd.storage.server.config.DaemonConfig;
import dev.builderd.storage.testing.S3ProxyServer;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;
import picocli.CommandLine;

/**
 * The daemon with a filesystem primary replicating to a real s3proxy bucket: an upload reaches
 * the replica, a purged tenant stays in the replica until the delete delay has passed, the scrub
 * repairs a damaged encrypted artifact from the replica, the repair job and the CLI work, and
 * /health/storage and /metrics show the replication.
 */
@ParameterizedClass
@EnumSource(MetadataKind.class)
class ReplicationHttpTest extends HttpApiTestBase {

    private static String bucket;

    @BeforeAll
    static void newBucket() {
        bucket = S3ProxyServer.shared().newBucket();
    }

    @Override
    Map<String, String> backendEnvironment() {
        S3ProxyServer s3 = S3ProxyServer.shared();
        // A prefix per test, so that the tests share the bucket without seeing each other's blobs.
        return Map.of("UNKEY_BUILDERD_REPLICA_TARGET", "s3://" + bucket + "/" + dataRoot.getFileName() + "/?endpoint=" + s3.endpoint()
                        + "&region=" + s3.region(),
                "UNKEY_BUILDERD_REPLICA_S3_ACCESS_KEY_ID", s3.accessKey(),
                "UNKEY_BUILDERD_REPLICA_S3_SECRET_ACCESS_KEY", s3.secretKey(),
                "UNKEY_BUILDERD_REPLICATION_DELETE_DELAY_HOURS", "24");
    }

    /** Work on the replica, with a client built from the daemon's own configuration. */
    private <T> T onReplica(ReplicaWork<T> work) throws Exception {
        Map<String, String> env = new HashMap<>(backendEnvironment());
        env.put("UNKEY_BUILDERD_DATA_DIR", dataRoot.toString());
        DaemonConfig config = ConfigParser.parse(env);
        List<AutoCloseable> clients = new ArrayList<>();
        try {
            return work.apply(StoreComposition.backend(config.replication().target().orElseThrow(), null, config.breaker(), clients));
        } finally {
            for (AutoCloseable client : clients) {
                client.close();
            }
        }
    }

    private List<String> replicaKeys() throws Exception {
        return onReplica(store -> {
            List<String> keys = new ArrayList<>();
            store.list("tenants/", null).forEachRemaining(blob -> keys.add(blob.key().value()));
            return keys;
        });
    }

    private byte[] replicaBytes(String key) throws Exception {
        return onReplica(store -> {
            try (InputStream in = store.open(BlobKey.of(key), ByteRange.ALL)) {
                return in.readAllBytes();
            }
        });
    }

    private JsonNode replication() {
        DaemonFixture.Response status = get("/v1/admin/replication", ADMIN);
        assertThat(status.status()).as(status.toString()).isEqualTo(200);
        return status.json();
    }

    private void awaitReplicated() {
        await().atMost(Duration.ofSeconds(60)).until(() -> replication().get("pending").asLong() == 0);
    }

    @Test
    void anUploadReachesTheReplicaAndAPurgedTenantStaysThereUntilTheDeleteDelayHasPassed() throws Exception {
        String token = tenant("acme", "pro");
        build("acme", token, "b1");
        byte[] image = bytes(1, 300_000);
        assertThat(upload("acme", token, "b1", "rootfs.img", image).status()).isEqualTo(201);

        awaitReplicated();
        assertThat(replicaBytes("tenants/acme/builds/b1/rootfs/rootfs.img")).isEqualTo(image);
        assertThat(replicaKeys()).contains("tenants/acme/builds/b1/rootfs/manifest.json", "tenants/acme/builds/b1/rootfs/checksums.sha256");
        JsonNode health = get("/health/storage", ADMIN).json().get("replication");
        assertThat(health.get("status").asText()).isEqualTo("healthy");
        assertThat(health.get("lag_seconds").asDouble()).isZero();
        assertThat(get("/metrics", ADMIN).text()).contains("builderd_replication_lag_seconds 0.0", "builderd_replication_lag_bytes 0.0",
                "builderd_replication_copied_total");

        assertThat(delete("/v1/tenants/acme", ADMIN).status()).isIn(200, 204);
        await().atMost(Duration.ofSeconds(60)).until(() -> replication().get("deferred_deletes").asLong() == 3);
        assertThat(replicaBytes("tenants/acme/builds/b1/rootfs/rootfs.img")).as("a mistaken purge can be undone from the replica")
                .isEqualTo(image);

        daemon = daemon.restartWith(Map.of("UNKEY_BUILDERD_REPLICATION_DELETE_DELAY_HOURS", "0"));
        await().atMost(Duration.ofSeconds(60)).until(() -> replicaKeys().isEmpty());
        assertThat(replication().get("deferred_deletes").asLong()).isZero();
    }

    @Test
    void theScrubRepairsADamagedEncryptedArtifactFromTheReplica() throws Exception {
        String token = tenant("secure", "enterprise");
        build("secure", token, "b1");
        byte[] image = bytes(2, 200_000);
        assertThat(upload("secure", token, "b1", "rootfs.img", image).status()).isEqualTo(201);
        awaitReplicated();
        byte[] ciphertext = replicaBytes("tenants/secure/builds/b1/rootfs/rootfs.img");
        assertThat(ciphertext).as("the replica holds ciphertext").hasSizeGreaterThan(image.length).isNotEqualTo(image);
        Path stored = dataRoot.resolve("tenants/secure/builds/b1/rootfs/rootfs.img");
        try (RandomAccessFile raw = new RandomAccessFile(stored.toFile(), "rw")) {
            raw.seek(77_777);
            int b = raw.read();
            raw.seek(77_777);
            raw.write(b ^ 0x01);
        }

        assertThat(post("/v1/admin/scrub", ADMIN, "").status()).isEqualTo(202);
        JsonNode pass = await().until(() -> get("/v1/admin/scrub", ADMIN).json(), json -> json.get("state").asText().equals("finished"));

        assertThat(pass.get("repaired").asLong()).isEqualTo(1);
        assertThat(pass.get("corrupt_found").asLong()).isZero();
        assertThat(get(artifactPath("secure", "b1", "rootfs.img"), token).body()).isEqualTo(image);
        assertThat(get("/metrics", ADMIN).text()).contains("builderd_scrub_repaired_blobs_total 1.0");
    }

    @Test
    void theRepairJobAndTheCliFindAndFixADivergence() throws Exception {
        String token = tenant("acme", "pro");
        build("acme", token, "b1");
        assertThat(upload("acme", token, "b1", "kernel", bytes(3, 5000)).status()).isEqualTo(201);
        awaitReplicated();
        onReplica(store -> store.delete(BlobKey.of("tenants/acme/builds/b1/rootfs/kernel")));

        Map<String, String> env = Map.of("UNKEY_BUILDERD_DATA_DIR", dataRoot.toString(), "UNKEY_BUILDERD_ADMIN_TOKEN", ADMIN,
                "UNKEY_BUILDERD_PORT", String.valueOf(daemon.port()));
        StringWriter out = new StringWriter();
        int code = new CommandLine(new ReplicationCommand(env)).setOut(new PrintWriter(out)).setErr(new PrintWriter(out)).execute("repair");

        assertThat(code).as(out.toString()).isZero();
        assertThat(out.toString()).contains("\"missing_in_replica\" : 1", "\"only_in_replica\" : 0");
        await().atMost(Duration.ofSeconds(60)).until(() -> replicaKeys().contains("tenants/acme/builds/b1/rootfs/kernel"));
        StringWriter status = new StringWriter();
        assertThat(new CommandLine(new ReplicationCommand(env)).setOut(new PrintWriter(status)).execute("status")).isZero();
        assertThat(status.toString()).contains("\"last_repair\"", "\"divergences\" : 1");
    }

    @Test
    void onlyTheAdminSeesOrRepairsTheReplication() {
        String token = tenant("acme", "pro");
        assertThat(get("/v1/admin/replication", token).status()).isEqualTo(403);
        assertThat(post("/v1/admin/replication/repair", token, "").status()).isEqualTo(403);
    }

    /** Work on the replica store. */
    interface ReplicaWork<T> {
        T apply(BlobStore store) throws Exception;
    }
}
