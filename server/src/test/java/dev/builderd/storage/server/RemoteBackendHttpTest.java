package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.builderd.storage.blob.EncryptingBlobStore;
import dev.builderd.storage.core.Stores;
import dev.builderd.storage.server.DaemonFixture.Response;
import dev.builderd.storage.testing.AzuriteServer;
import dev.builderd.storage.testing.S3ProxyServer;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.Parameter;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The foundation's whole HTTP flow with artifacts and logs in a remote object store: S3 on a
 * real s3proxy server and Azure Blob Storage on a real Azurite, each started by the test fixtures.
 * Parts are 5 MiB, so a 13 MiB artifact goes up as a parallel multipart upload (staged blocks on
 * Azure) and comes down partly as parallel ranged reads.
 */
@ParameterizedClass
@MethodSource("backends")
class RemoteBackendHttpTest extends HttpApiTestBase {

    /** The object stores the daemon runs on here, each with a fresh bucket or container. */
    enum RemoteBackend {
        S3 {
            @Override
            Map<String, String> environment() {
                S3ProxyServer server = S3ProxyServer.shared();
                return Map.of("UNKEY_BUILDERD_STORAGE_BACKEND", "s3",
                        "UNKEY_BUILDERD_S3_ENDPOINT", server.endpoint().toString(),
                        "UNKEY_BUILDERD_S3_BUCKET", server.newBucket(),
                        "UNKEY_BUILDERD_S3_REGION", server.region(),
                        "UNKEY_BUILDERD_S3_ACCESS_KEY_ID", server.accessKey(),
                        "UNKEY_BUILDERD_S3_SECRET_ACCESS_KEY", server.secretKey());
            }
        },
        AZURE {
            @Override
            Map<String, String> environment() {
                AzuriteServer.Container container = AzuriteServer.shared().newContainer();
                return Map.of("UNKEY_BUILDERD_STORAGE_BACKEND", "azure",
                        "UNKEY_BUILDERD_AZURE_ENDPOINT", container.endpoint().toString(),
                        "UNKEY_BUILDERD_AZURE_ACCOUNT", container.account(),
                        "UNKEY_BUILDERD_AZURE_CONTAINER", container.name(),
                        "UNKEY_BUILDERD_AZURE_ACCESS_KEY", container.accessKey());
            }
        };

        abstract Map<String, String> environment();
    }

    static Stream<Arguments> backends() {
        return Stream.of(RemoteBackend.values()).map(backend -> Arguments.of(MetadataKind.SQLITE, backend));
    }

    @Parameter(1)
    RemoteBackend backend;

    private Map<String, String> environment;

    @Override
    Map<String, String> backendEnvironment() {
        if (environment == null) {
            environment = new HashMap<>(backend.environment());
            environment.put("UNKEY_BUILDERD_IO_PART_SIZE_MB", "5");
            environment.put("UNKEY_BUILDERD_IO_WORKERS", "3");
        }
        return environment;
    }

    /** On pro the objects hold plaintext; on enterprise, ciphertext under the tenant's own key, the same flow. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"pro", "enterprise"})
    void theWholeBuildFlowKeepsArtifactsAndLogsInTheObjectStore(String tier) throws IOException {
        String token = tenant("acme", tier);
        JsonNode build = build("acme", token, "b1");
        byte[] image = bytes(20261125, 13 << 20);

        Response uploaded = upload("acme", token, "b1", "filesystem.ext4", image, "X-Checksum-Sha256", sha256(image));
        assertThat(uploaded.status()).as("%s", uploaded).isEqualTo(201);
        assertThat(uploaded.json().get("sha256").asText()).isEqualTo(sha256(image));
        assertThat(path(build, "rootfs").resolve("filesystem.ext4")).as("the artifact lives in the object store").doesNotExist();
        assertThat(remoteKeys("tenants/acme/builds/b1/")).contains("tenants/acme/builds/b1/rootfs/filesystem.ext4",
                "tenants/acme/builds/b1/rootfs/manifest.json", "tenants/acme/builds/b1/rootfs/checksums.sha256");

        byte[] stored = storedBytes(Stores::artifacts, "tenants/acme/builds/b1/rootfs/filesystem.ext4");
        if (tier.equals("enterprise")) {
            assertThat(stored).hasSize((int) EncryptingBlobStore.ciphertextLength(image.length));
            assertThat(sha256(stored)).isNotEqualTo(sha256(image));
        } else {
            assertThat(sha256(stored)).isEqualTo(sha256(image));
        }

        Response whole = get(artifactPath("acme", "b1", "filesystem.ext4"), token);
        assertThat(whole.status()).isEqualTo(200);
        assertThat(sha256(whole.body())).isEqualTo(sha256(image));
        Response range = get(artifactPath("acme", "b1", "filesystem.ext4"), token, "Range", "bytes=6291456-6291555");
        assertThat(range.status()).isEqualTo(206);
        assertThat(range.body()).containsExactly(java.util.Arrays.copyOfRange(image, 6291456, 6291556));

        Response gz = post(artifactPath("acme", "b1", "filesystem.ext4") + "/gzip", token, null);
        assertThat(gz.status()).as("%s", gz).isEqualTo(201);
        byte[] gunzipped = new GZIPInputStream(new ByteArrayInputStream(get(artifactPath("acme", "b1", "filesystem.ext4.gz"), token)
                .body())).readAllBytes();
        assertThat(sha256(gunzipped)).isEqualTo(sha256(image));

        Files.write(path(build, "temp").resolve("extra.img"), bytes(7, 100_000));
        Response imported = post(artifactPath("acme", "b1", "extra.img") + "/import", token, "{\"from\":\"temp/extra.img\"}");
        assertThat(imported.status()).as("%s", imported).isEqualTo(201);
        assertThat(imported.json().get("sha256").asText()).isEqualTo(sha256(bytes(7, 100_000)));

        assertThat(put(buildPath("acme", "b1") + "/logs/build.log", token, "step 1\nstep 2\n").status()).isEqualTo(201);
        assertThat(get(buildPath("acme", "b1") + "/logs/build.log", token).text()).isEqualTo("step 1\nstep 2\n");
        assertThat(manifestNames("acme", token, "b1")).containsExactly("extra.img", "filesystem.ext4", "filesystem.ext4.gz");

        assertThat(complete("acme", token, "b1", "succeeded").status()).isEqualTo(200);
        assertThat(upload("acme", token, "b1", "late.bin", utf8("late")).status()).isEqualTo(409);
        assertThat(sha256(get(artifactPath("acme", "b1", "filesystem.ext4"), token).body())).isEqualTo(sha256(image));

        assertThat(delete(buildPath("acme", "b1"), token).status()).isEqualTo(204);
        assertThat(remoteKeys("tenants/acme/")).as("deleting the build deletes its objects").isEmpty();
    }

    @Test
    void aMismatchingDigestKeepsNothingInTheObjectStore() {
        String token = tenant("acme", "pro");
        build("acme", token, "b1");
        byte[] image = bytes(3, 11 << 20);

        Response rejected = upload("acme", token, "b1", "bad.img", image, "X-Checksum-Sha256", sha256(utf8("something else")));
        assertProblem(rejected, 400, "SHA-256");
        assertThat(remoteKeys("tenants/acme/builds/b1/rootfs/bad")).isEmpty();
        assertThat(get(artifactPath("acme", "b1", "bad.img"), token).status()).isEqualTo(404);
    }

    /** What the object store holds under {@code prefix}. */
    private List<String> remoteKeys(String prefix) {
        return storedKeys(Stores::artifacts, prefix);
    }
}
