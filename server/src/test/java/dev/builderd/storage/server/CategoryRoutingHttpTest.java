package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.builderd.storage.core.Stores;
import dev.builderd.storage.testing.S3ProxyServer;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** Artifacts routed to S3 (a real s3proxy) while logs stay on local disk; a purge empties both. */
@ParameterizedClass
@EnumSource(value = MetadataKind.class, names = "SQLITE")
class CategoryRoutingHttpTest extends HttpApiTestBase {

    private Map<String, String> environment;

    @Override
    Map<String, String> backendEnvironment() {
        if (environment == null) {
            S3ProxyServer server = S3ProxyServer.shared();
            environment = Map.of("UNKEY_BUILDERD_STORAGE_BACKEND", "filesystem",
                    "UNKEY_BUILDERD_ARTIFACTS_BACKEND", "s3",
                    "UNKEY_BUILDERD_S3_ENDPOINT", server.endpoint().toString(),
                    "UNKEY_BUILDERD_S3_BUCKET", server.newBucket(),
                    "UNKEY_BUILDERD_S3_ACCESS_KEY_ID", server.accessKey(),
                    "UNKEY_BUILDERD_S3_SECRET_ACCESS_KEY", server.secretKey());
        }
        return environment;
    }

    @Test
    void artifactsGoToTheBucketAndLogsToLocalDisk() {
        String token = tenant("acme", "pro");
        JsonNode build = build("acme", token, "b1");
        assertThat(upload("acme", token, "b1", "filesystem.ext4", bytes(5, 70_000)).status()).isEqualTo(201);
        assertThat(put(buildPath("acme", "b1") + "/logs/build.log", token, "local log\n").status()).isEqualTo(201);

        assertThat(bucketKeys()).contains("tenants/acme/builds/b1/rootfs/filesystem.ext4");
        assertThat(path(build, "rootfs").resolve("filesystem.ext4")).doesNotExist();
        assertThat(path(build, "logs").resolve("build.log")).hasContent("local log\n");
        assertThat(bucketKeys()).noneMatch(key -> key.contains("/logs/"));

        assertThat(delete("/v1/tenants/acme", ADMIN).status()).isEqualTo(204);
        assertThat(bucketKeys()).as("the purge empties the remote category too").isEmpty();
        assertThat(path(build, "logs")).doesNotExist();
    }

    private List<String> bucketKeys() {
        return storedKeys(Stores::artifacts, "");
    }
}
