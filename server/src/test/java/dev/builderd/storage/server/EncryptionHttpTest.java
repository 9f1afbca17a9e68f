package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.builderd.storage.blob.EncryptingBlobStore;
import dev.builderd.storage.core.metadata.KeysetRows;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.server.DaemonFixture.Response;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Encryption at rest through the HTTP API on the filesystem backend: what a client sees (plaintext
 * digests, ranges), what lands on disk (ciphertext), the tenant's encryption status, turning it on
 * with data in place, rotation, tampering, damaged keys and the master key checks at start-up.
 */
@ParameterizedClass
@EnumSource(MetadataKind.class)
class EncryptionHttpTest extends HttpApiTestBase {

    private Path keys() {
        return dataRoot.resolve("config/encryption-keys");
    }

    /** Runs {@code change} on the daemon's metadata store, through a connection of the test's own. */
    private <T> T inMetadata(org.jdbi.v3.core.HandleCallback<T, RuntimeException> change) {
        try (MetadataStore metadata = MetadataStore.open(metadataUrl.map(MetadataLocation::parse)
                .orElseGet(() -> MetadataLocation.sqlite(dataRoot.resolve("metadata").resolve("builderd.db"))))) {
            return metadata.inTransaction(change);
        }
    }

    private String keysetRow(String tenant) {
        return inMetadata(h -> KeysetRows.find(h, TenantId.of(tenant))).flatMap(KeysetRows.Keyset::wrapped)
                .map(bytes -> new String(bytes, java.nio.charset.StandardCharsets.UTF_8)).orElseThrow();
    }

    private Path onDisk(String tenant, String build, String name) {
        return dataRoot.resolve("tenants").resolve(tenant).resolve("builds").resolve(build).resolve("rootfs").resolve(name);
    }

    private JsonNode encryptionStatus(String tenant, String token) {
        Response response = get("/v1/tenants/" + tenant, token);
        assertThat(response.status()).as("%s", response).isEqualTo(200);
        return response.json().get("encryption_status");
    }

    private void awaitReencryption(String tenant, String state) {
        await().atMost(Duration.ofSeconds(60)).until(() -> {
            JsonNode job = encryptionStatus(tenant, ADMIN).get("reencryption");
            return job != null && state.equals(job.get("state").asText());
        });
    }

    @Test
    void anEnterpriseTenantIsEncryptedOnDiskAndClientsSeePlaintextDigestsAndRanges() throws IOException {
        String token = tenant("acme", "enterprise");
        build("acme", token, "b1");
        byte[] image = bytes(4, 3 << 20);

        Response uploaded = upload("acme", token, "b1", "rootfs.img", image, "X-Checksum-Sha256", sha256(image));

        assertThat(uploaded.status()).as("%s", uploaded).isEqualTo(201);
        assertThat(uploaded.json().get("sha256").asText()).isEqualTo(sha256(image));
        byte[] stored = Files.readAllBytes(onDisk("acme", "b1", "rootfs.img"));
        assertThat(stored).hasSize((int) EncryptingBlobStore.ciphertextLength(image.length));
        assertThat(sha256(stored)).isNotEqualTo(sha256(image));
        Response whole = get(artifactPath("acme", "b1", "rootfs.img"), token);
        assertThat(sha256(whole.body())).isEqualTo(sha256(image));
        assertThat(whole.header("ETag")).hasValue("\"" + sha256(image) + "\"");
        Response range = get(artifactPath("acme", "b1", "rootfs.img"), token, "Range", "bytes=1048570-2097160");
        assertThat(range.status()).isEqualTo(206);
        assertThat(range.body()).isEqualTo(Arrays.copyOfRange(image, 1048570, 2097161));
        assertThat(get(buildPath("acme", "b1") + "/artifacts", token).text()).contains(sha256(image));
        assertThat(get(buildPath("acme", "b1") + "/checksums.sha256", token).text()).isEqualTo(sha256(image) + "  rootfs.img\n");
        assertThat(Files.readAllBytes(onDisk("acme", "b1", "checksums.sha256"))).as("ciphertext on disk")
                .isNotEqualTo((sha256(image) + "  rootfs.img\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));

        JsonNode status = encryptionStatus("acme", token);
        assertThat(status.get("enabled").asBoolean()).isTrue();
        assertThat(status.get("keys").asInt()).isEqualTo(1);
        assertThat(status.get("algorithm").asText()).contains("AES-256-GCM");
        assertThat(status.get("plaintext_may_remain").asBoolean()).isFalse();
        assertThat(status.get("next_rotation").asText()).isNotBlank();
        assertThat(status.get("workspace_volume").get("encrypted").asBoolean()).as("no dm-crypt volume on this machine").isFalse();
        assertThat(status.toString()).doesNotContain(keysetRow("acme").substring(60, 100));
    }

    @Test
    void aFileImportedFromTheWorkspaceIsCopiedInEncryptedNotRenamed() throws IOException {
        String token = tenant("acme", "enterprise");
        JsonNode build = build("acme", token, "b1");
        byte[] image = bytes(10, 300_000);
        Path source = path(build, "temp").resolve("filesystem.ext4");
        Files.write(source, image);

        Response imported = post(artifactPath("acme", "b1", "filesystem.ext4") + "/import", token, "{\"from\":\"temp/filesystem.ext4\"}");

        assertThat(imported.status()).as("%s", imported).isEqualTo(201);
        assertThat(imported.json().get("sha256").asText()).isEqualTo(sha256(image));
        assertThat(sha256(Files.readAllBytes(onDisk("acme", "b1", "filesystem.ext4")))).isNotEqualTo(sha256(image));
        assertThat(sha256(get(artifactPath("acme", "b1", "filesystem.ext4"), token).body())).isEqualTo(sha256(image));
    }

    @Test
    void turningEncryptionOnForAProTenantEncryptsWhatItAlreadyHas() throws IOException {
        String token = tenant("acme", "pro");
        build("acme", token, "b1");
        byte[] image = bytes(5, 500_000);
        upload("acme", token, "b1", "app.img", image);
        assertThat(Files.readAllBytes(onDisk("acme", "b1", "app.img"))).isEqualTo(image);

        Response turnedOn = put("/v1/tenants/acme", ADMIN, "{\"tier\":\"pro\",\"encryption\":true}");
        assertThat(turnedOn.status()).as("%s", turnedOn).isEqualTo(200);

        awaitReencryption("acme", "finished");
        JsonNode job = encryptionStatus("acme", token).get("reencryption");
        assertThat(job.get("blobs_done").asLong()).isEqualTo(job.get("blobs_total").asLong());
        assertThat(job.get("blobs_rewritten").asLong()).isEqualTo(3);
        assertThat(Files.readAllBytes(onDisk("acme", "b1", "app.img"))).isNotEqualTo(image);
        assertThat(sha256(get(artifactPath("acme", "b1", "app.img"), token).body())).isEqualTo(sha256(image));
        assertProblem(put("/v1/tenants/acme", ADMIN, "{\"tier\":\"pro\",\"encryption\":false}"), 409, "cannot be turned off");
    }

    @Test
    void aTamperedArtifactIsAnIntegrityProblemAndCounted() throws IOException {
        String token = tenant("acme", "enterprise");
        build("acme", token, "b1");
        upload("acme", token, "b1", "app.img", bytes(6, 400_000));
        Path file = onDisk("acme", "b1", "app.img");
        byte[] stored = Files.readAllBytes(file);
        stored[300_000] ^= 1;
        Files.write(file, stored);

        Response read = get(artifactPath("acme", "b1", "app.img"), token, "Range", "bytes=290000-310000");

        assertProblem(read, 500, "integrity");
        assertThat(read.json().get("type").asText()).endsWith("/integrity-violation");
        Response metrics = get("/metrics", ADMIN);
        assertThat(metrics.status()).isEqualTo(200);
        assertThat(metrics.text()).contains("builderd_storage_integrity_failures_total{tenant_id=\"acme\"} 1.0");
        assertThat(get("/metrics", token).status()).as("metrics are for the operator").isEqualTo(403);
    }

    /** A whole large artifact goes out through the store's decrypted buffers: damage in its first segment fails before the status. */
    @Test
    void aTamperedLargeArtifactIsAnIntegrityProblemOnAWholeRead() throws IOException {
        String token = tenant("acme", "enterprise");
        build("acme", token, "b1");
        upload("acme", token, "b1", "big.img", bytes(7, 3 << 20));
        Path file = onDisk("acme", "b1", "big.img");
        byte[] stored = Files.readAllBytes(file);
        stored[EncryptingBlobStore.ENVELOPE_SIZE + EncryptingBlobStore.HEADER_SIZE + 1000] ^= 1;
        Files.write(file, stored);

        Response read = get(artifactPath("acme", "b1", "big.img"), token);

        assertProblem(read, 500, "integrity");
        assertThat(read.json().get("type").asText()).endsWith("/integrity-violation");
        assertThat(get("/metrics", ADMIN).text()).contains("builderd_storage_integrity_failures_total{tenant_id=\"acme\"} 1.0");
    }

    @Test
    void rotationAndReencryptionThroughTheAdminApi() {
        String token = tenant("acme", "enterprise");
        build("acme", token, "b1");
        byte[] image = bytes(7, 200_000);
        upload("acme", token, "b1", "app.img", image);

        Response rotated = post("/v1/tenants/acme/encryption/rotate", ADMIN, null);
        assertThat(rotated.status()).as("%s", rotated).isEqualTo(200);
        assertThat(rotated.json().get("keys").asInt()).isEqualTo(2);
        assertThat(post("/v1/tenants/acme/encryption/rotate", token, null).status()).as("admin only").isEqualTo(403);

        assertThat(post("/v1/tenants/acme/encryption/reencrypt", ADMIN, null).status()).isEqualTo(202);
        awaitReencryption("acme", "finished");
        assertThat(encryptionStatus("acme", ADMIN).get("keys").asInt()).as("the older key retired").isEqualTo(1);

        Response master = post("/v1/admin/master-key/rotate", ADMIN, null);
        assertThat(master.status()).as("%s", master).isEqualTo(200);
        assertThat(master.json().get("older_master_keys_removed").asBoolean()).isTrue();
        daemon.restart();
        assertThat(sha256(get(artifactPath("acme", "b1", "app.img"), token).body())).isEqualTo(sha256(image));
        assertProblem(post("/v1/tenants/nobody/encryption/rotate", ADMIN, null), 404, "nobody");
        tenant("plain", "free");
        assertProblem(post("/v1/tenants/plain/encryption/rotate", ADMIN, null), 409, "not encrypted");
    }

    @Test
    void aDamagedKeysetMakesOnlyItsTenantUnavailableWithAClearProblem() throws IOException {
        String acme = tenant("acme", "enterprise");
        String globex = tenant("globex", "enterprise");
        build("acme", acme, "b1");
        build("globex", globex, "b1");
        upload("acme", acme, "b1", "app.img", bytes(8, 1000));
        upload("globex", globex, "b1", "app.img", bytes(9, 1000));
        inMetadata(h -> h.createUpdate("UPDATE tenant_keysets SET wrapped = :w WHERE tenant_id = 'acme'")
                .bind("w", "{\"format\":\"builderd-tenant-keyset/1\", \"damaged".getBytes(java.nio.charset.StandardCharsets.UTF_8)).execute());

        daemon.restart();

        assertProblem(get(artifactPath("acme", "b1", "app.img"), acme), 500, "acme", "tenant_keysets");
        assertThat(get(artifactPath("acme", "b1", "app.img"), acme).json().get("type").asText())
                .endsWith("/encryption-keys-unavailable");
        assertProblem(upload("acme", acme, "b1", "more.img", bytes(1, 10)), 500, "unavailable");
        assertThat(get(artifactPath("globex", "b1", "app.img"), globex).status()).isEqualTo(200);
        assertThat(encryptionStatus("acme", ADMIN).get("keys_unavailable").asText()).contains("tenant_keysets");
        JsonNode health = get("/health/storage", ADMIN).json();
        assertThat(health.get("status").asText()).isEqualTo("degraded");
        assertThat(health.get("encryption").get("unavailable").get("acme").asText()).contains("tenant_keysets");
        assertThat(get("/health/storage", null).json().get("encryption").has("unavailable")).as("details for the admin only").isFalse();
    }

    @Test
    void theDaemonRefusesToStartWithAMissingOrWrongMasterKey() throws IOException {
        tenant("acme", "enterprise");
        Path master = keys().resolve("master.key");
        Path saved = dataRoot.resolve("master.key.saved");
        Files.move(master, saved);

        assertThatThrownBy(() -> daemon.restart()).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("master key " + master + " is missing");
        assertThat(master).as("never replaced").doesNotExist();

        Path other = dataRoot.resolve("other.key");
        assertThatThrownBy(() -> daemon.restartWith(Map.of("UNKEY_BUILDERD_MASTER_KEY_FILE", other.toString())))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("is missing");
        assertThat(other).doesNotExist();

        Files.move(saved, master);
        daemon.restart();
        assertThat(get("/v1/tenants/acme", ADMIN).status()).isEqualTo(200);
    }
}
