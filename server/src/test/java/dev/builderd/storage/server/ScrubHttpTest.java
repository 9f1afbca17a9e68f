package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The integrity scrub finds a byte flipped in a stored artifact (plaintext or encrypted) and in a
 * cached layer, reports them in its status, /health/storage and a metric, and forgets a finding
 * once the blob reads whole again.
 */
@ParameterizedClass
@EnumSource(MetadataKind.class)
class ScrubHttpTest extends HttpApiTestBase {

    private static void flipAByte(Path file, long at) throws Exception {
        try (RandomAccessFile raw = new RandomAccessFile(file.toFile(), "rw")) {
            raw.seek(at);
            int b = raw.read();
            raw.seek(at);
            raw.write(b ^ 0x01);
        }
    }

    private JsonNode scrubbed() {
        assertThat(post("/v1/admin/scrub", ADMIN, "").status()).isEqualTo(202);
        return await().until(() -> get("/v1/admin/scrub", ADMIN).json(), pass -> pass.get("state").asText().equals("finished"));
    }

    @Test
    void aFlippedByteInAStoredBlobIsFoundReportedAndForgottenOnceItReadsWholeAgain() throws Exception {
        String plain = tenant("acme", "pro");
        String encrypted = tenant("secure", "enterprise");
        build("acme", plain, "b1");
        build("secure", encrypted, "b1");
        byte[] image = bytes(1, 200_000);
        assertThat(upload("acme", plain, "b1", "rootfs.img", image).status()).isEqualTo(201);
        assertThat(upload("acme", plain, "b1", "kernel", bytes(2, 5000)).status()).isEqualTo(201);
        assertThat(upload("secure", encrypted, "b1", "rootfs.img", bytes(3, 100_000)).status()).isEqualTo(201);
        byte[] layer = bytes(4, 50_000);
        String digest = "sha256:" + sha256(layer);
        assertThat(put("/v1/tenants/acme/cache/docker-layers/" + digest, plain, layer).status()).isEqualTo(201);
        assertThat(scrubbed().get("corrupt_found").asLong()).as("nothing damaged yet").isZero();

        flipAByte(dataRoot.resolve("tenants/acme/builds/b1/rootfs/rootfs.img"), 123_456);
        flipAByte(dataRoot.resolve("tenants/secure/builds/b1/rootfs/rootfs.img"), 50_000);
        flipAByte(dataRoot.resolve("tenants/acme/cache/docker-layers").resolve(digest), 10);
        JsonNode pass = scrubbed();

        assertThat(pass.get("blobs_checked").asLong()).isEqualTo(4);
        assertThat(pass.get("corrupt_found").asLong()).isEqualTo(3);
        assertThat(pass.get("corrupt").findValuesAsText("key")).containsExactlyInAnyOrder(
                "tenants/acme/builds/b1/rootfs/rootfs.img", "tenants/secure/builds/b1/rootfs/rootfs.img",
                "tenants/acme/cache/docker-layers/" + digest);
        assertThat(pass.get("corrupt").toString()).contains("not the " + sha256(image) + " recorded");
        JsonNode health = get("/health/storage", ADMIN).json();
        assertThat(health.get("status").asText()).isEqualTo("degraded");
        assertThat(health.get("integrity").get("corrupt_blobs").asInt()).isEqualTo(3);
        assertThat(get("/health/storage", null).json().get("integrity").has("corrupt")).as("keys name tenants: admin only").isFalse();
        assertThat(get("/metrics", ADMIN).text()).contains("builderd_scrub_corrupt_blobs{tenant_id=\"acme\"} 2.0")
                .contains("builderd_scrub_corrupt_blobs{tenant_id=\"secure\"} 1.0");

        delete("/v1/tenants/acme/builds/b1/artifacts/rootfs.img", plain);
        assertThat(upload("acme", plain, "b1", "rootfs.img", image).status()).isEqualTo(201);
        delete("/v1/tenants/acme/cache/docker-layers/" + digest, plain);
        assertThat(scrubbed().get("corrupt").findValuesAsText("key")).as("restored or deleted: forgotten")
                .containsExactly("tenants/secure/builds/b1/rootfs/rootfs.img");
    }

    @Test
    void onlyTheAdminScrubs() {
        String token = tenant("acme", "pro");
        assertThat(post("/v1/admin/scrub", token, "").status()).isEqualTo(403);
        assertThat(get("/v1/admin/scrub", token).status()).isEqualTo(403);
        assertThat(get("/v1/admin/scrub", ADMIN).json().get("state").asText()).isEqualTo("idle");
    }
}
