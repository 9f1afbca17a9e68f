package dev.builderd.storage.core.crypto;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.crypto.tink.InsecureSecretKeyAccess;
import com.google.crypto.tink.KeysetHandle;
import com.google.crypto.tink.TinkJsonProtoKeysetFormat;
import com.google.crypto.tink.aead.AeadConfig;
import com.google.crypto.tink.aead.PredefinedAeadParameters;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.EncryptingBlobStore;
import dev.builderd.storage.blob.IntegrityViolationException;
import dev.builderd.storage.blob.MemoryBlobStore;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.core.metadata.KeysetRows;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.TenantRows;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TenantKeysTest {

    private static final TenantId ACME = TenantId.of("acme");
    private static final TenantId GLOBEX = TenantId.of("globex");
    private static final BlobKey ACME_BLOB = BlobKey.of("tenants/acme/builds/b1/rootfs/app.tar");
    private static final byte[] CONTENT = "the tenant's secret build output".getBytes(StandardCharsets.UTF_8);

    @TempDir
    Path dir;

    private Path masterFile;
    private MetadataStore metadata;
    private final Clock clock = Clock.fixed(Instant.parse("2026-11-25T12:00:00Z"), ZoneOffset.UTC);

    @BeforeEach
    void setUp() {
        masterFile = dir.resolve(TenantKeys.MASTER_KEY_FILE);
        metadata = MetadataStore.open(MetadataLocation.sqlite(dir.resolve("metadata.db")));
    }

    @AfterEach
    void tearDown() {
        metadata.close();
    }

    /** Opens the keys as a start-up does; {@code encrypted} are marked encrypted in the tenants table first. */
    private TenantKeys load(Set<TenantId> encrypted) throws IOException {
        metadata.inTransaction(h -> {
            encrypted.forEach(t -> TenantRows.upsert(h, t, Tier.ENTERPRISE, true, clock.instant()));
            return null;
        });
        return TenantKeys.load(dir, MasterKeyFile.openOrCreate(masterFile, !TenantKeys.exist(dir, metadata)), metadata, clock);
    }

    private byte[] row(TenantId tenant) {
        return metadata.read(h -> KeysetRows.find(h, tenant)).orElseThrow().wrapped().orElseThrow();
    }

    private void setRow(TenantId tenant, byte[] wrapped) {
        metadata.inTransaction(h -> h.createUpdate("UPDATE tenant_keysets SET wrapped = :w WHERE tenant_id = :t")
                .bind("w", wrapped).bind("t", tenant.value()).execute());
    }

    private void deleteRow(TenantId tenant) {
        metadata.inTransaction(h -> h.createUpdate("DELETE FROM tenant_keysets WHERE tenant_id = :t").bind("t", tenant.value()).execute());
    }

    private static void write(EncryptingBlobStore store, BlobKey key) throws IOException {
        store.put(key, new ByteArrayInputStream(CONTENT), CONTENT.length, WriteMode.OVERWRITE);
    }

    private static byte[] read(EncryptingBlobStore store, BlobKey key) throws IOException {
        try (InputStream in = store.open(key, ByteRange.ALL)) {
            return in.readAllBytes();
        }
    }

    @Test
    void theMasterKeyIsCreatedOnFirstStartReadableOnlyByItsOwner() throws IOException {
        TenantKeys keys = load(Set.of());

        assertThat(masterFile).exists();
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(masterFile))).isEqualTo("rw-------");
        keys.create(ACME, false);
        assertThat(new String(row(ACME), StandardCharsets.UTF_8)).as("the keyset is in the table, wrapped")
                .contains("encryptedKeyset").doesNotContain("\"value\"");
        assertThat(dir.resolve("acme.key")).as("no key file").doesNotExist();
        String master = Files.readString(masterFile);

        TenantKeys reopened = load(Set.of(ACME));

        assertThat(Files.readString(masterFile)).as("an existing master key is kept").isEqualTo(master);
        assertThat(reopened.forTenant(ACME)).isPresent();
    }

    @Test
    void dataWrittenWithATenantsKeysReadsBackAfterARestart() throws IOException {
        MemoryBlobStore raw = new MemoryBlobStore();
        TenantKeys keys = load(Set.of());
        keys.create(ACME, false);
        write(new EncryptingBlobStore(raw, keys), ACME_BLOB);

        TenantKeys reopened = load(Set.of(ACME));

        assertThat(read(new EncryptingBlobStore(raw, reopened), ACME_BLOB)).isEqualTo(CONTENT);
        assertThat(reopened.forKey(BlobKey.of("tenants/globex/builds/b1/rootfs/x"))).as("a tenant without keys").isEmpty();
        assertThat(reopened.forKey(BlobKey.of("global/registry-cache/x"))).isEmpty();
    }

    @Test
    void aMissingMasterKeyIsNeverReplacedWhileKeysetsExist() throws IOException {
        load(Set.of()).create(ACME, false);
        Files.delete(masterFile);

        assertThatThrownBy(() -> load(Set.of(ACME)))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("master key " + masterFile + " is missing")
                .hasMessageContaining("never creates a new master key");
        assertThat(masterFile).doesNotExist();
    }

    @Test
    void aWrongMasterKeyRefusesToStart() throws IOException {
        load(Set.of()).create(ACME, false);
        Path other = dir.resolve("elsewhere").resolve("master.key");
        MasterKeyFile.openOrCreate(other, true);
        Files.move(other, masterFile, StandardCopyOption.REPLACE_EXISTING);

        assertThatThrownBy(() -> load(Set.of(ACME)))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("opens none of the 1 tenant keysets")
                .hasMessageContaining("never replaces one");
    }

    @Test
    void aDamagedMasterKeyFileIsReportedNotReplaced() throws IOException {
        load(Set.of());
        Files.writeString(masterFile, "{\"primaryKeyId\": 1, \"key\": [");

        assertThatThrownBy(() -> MasterKeyFile.openOrCreate(masterFile, true))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("is not a Tink AEAD keyset");
        assertThat(Files.readString(masterFile)).startsWith("{\"primaryKeyId\": 1");
    }

    @Test
    void aDamagedKeysetMakesOnlyThatTenantUnavailable() throws IOException {
        TenantKeys keys = load(Set.of());
        keys.create(ACME, false);
        keys.create(GLOBEX, false);
        String json = new String(row(ACME), StandardCharsets.UTF_8);
        int at = json.indexOf("\"keyset\"") + 30;
        setRow(ACME, (json.substring(0, at) + (json.charAt(at) == 'A' ? 'B' : 'A') + json.substring(at + 1)).getBytes(StandardCharsets.UTF_8));

        TenantKeys reopened = load(Set.of(ACME, GLOBEX));

        assertThatThrownBy(() -> reopened.forKey(ACME_BLOB))
                .isInstanceOf(KeysUnavailableException.class)
                .hasMessageContaining("tenant acme").hasMessageContaining("tenant_keysets");
        assertThat(reopened.forTenant(GLOBEX)).isPresent();
        assertThatThrownBy(() -> reopened.create(ACME, false)).as("never replaced by a new keyset")
                .isInstanceOf(KeysUnavailableException.class);
    }

    @Test
    void aKeysetCopiedToAnotherTenantsRowDoesNotOpen() throws IOException {
        TenantKeys keys = load(Set.of());
        keys.create(ACME, false);
        keys.create(GLOBEX, false);
        // Even with the name inside the document edited to match, the tenant ID is the keyset's associated data.
        ObjectMapper json = new ObjectMapper();
        var node = (com.fasterxml.jackson.databind.node.ObjectNode) json.readTree(row(ACME));
        node.put("tenant", "globex");
        setRow(GLOBEX, json.writeValueAsBytes(node));

        TenantKeys reopened = load(Set.of(ACME, GLOBEX));

        assertThatThrownBy(() -> reopened.forTenant(GLOBEX)).isInstanceOf(KeysUnavailableException.class)
                .hasMessageContaining("does not open");
    }

    @Test
    void keyFilesOfAnEarlierVersionMoveIntoTheTableAtStart() throws IOException {
        MemoryBlobStore raw = new MemoryBlobStore();
        TenantKeys keys = load(Set.of());
        keys.create(ACME, false);
        keys.create(GLOBEX, false);
        write(new EncryptingBlobStore(raw, keys), ACME_BLOB);
        Files.write(dir.resolve("acme.key"), row(ACME));
        Files.write(dir.resolve("globex.shredded"), "{\"shreddedAt\":1}".getBytes(StandardCharsets.UTF_8));
        deleteRow(ACME);
        deleteRow(GLOBEX);

        TenantKeys reopened = load(Set.of(ACME, GLOBEX));

        assertThat(read(new EncryptingBlobStore(raw, reopened), ACME_BLOB)).isEqualTo(CONTENT);
        assertThat(dir.resolve("acme.key")).as("imported, then removed").doesNotExist();
        assertThat(dir.resolve("globex.shredded")).doesNotExist();
        assertThat(reopened.isShredded(GLOBEX)).as("a purge that had begun stays begun").isTrue();
        assertThat(load(Set.of(ACME, GLOBEX)).forTenant(ACME)).as("after another start").isPresent();
    }

    @Test
    void changesMadeThroughTwoInstancesBothLand() throws IOException {
        TenantKeys first = load(Set.of());
        first.create(ACME, false);
        TenantKeys second = load(Set.of(ACME));

        first.rotate(ACME);
        second.rotate(ACME);

        assertThat(load(Set.of(ACME)).status(ACME).orElseThrow().keys()).as("neither rotation is lost").isEqualTo(3);
    }

    @Test
    void anEncryptedTenantWithoutAKeysetIsUnavailableNotPlaintext() throws IOException {
        TenantKeys keys = load(Set.of(ACME));

        assertThatThrownBy(() -> keys.forKey(ACME_BLOB)).isInstanceOf(KeysUnavailableException.class)
                .hasMessageContaining("missing");
        assertThatThrownBy(() -> new EncryptingBlobStore(new MemoryBlobStore(), keys).put(ACME_BLOB,
                new ByteArrayInputStream(CONTENT), CONTENT.length, WriteMode.CREATE_NEW))
                .as("nothing is written as plaintext").isInstanceOf(KeysUnavailableException.class);
    }

    @Test
    void rotationAddsAPrimaryKeepsOldDataReadableAndRetiresOldKeysOnRequest() throws IOException {
        MemoryBlobStore raw = new MemoryBlobStore();
        TenantKeys keys = load(Set.of());
        TenantKeys.KeyStatus first = keys.create(ACME, false);
        EncryptingBlobStore store = new EncryptingBlobStore(raw, keys);
        write(store, ACME_BLOB);

        TenantKeys.KeyStatus rotated = keys.rotate(ACME);

        assertThat(rotated.keys()).isEqualTo(2);
        assertThat(rotated.primaryKeyId()).isNotEqualTo(first.primaryKeyId());
        assertThat(read(store, ACME_BLOB)).isEqualTo(CONTENT);
        assertThat(store.needsReencryption(ACME_BLOB)).isTrue();
        Set<Integer> older = keys.olderKeys(ACME);
        store.reencrypt(ACME_BLOB);
        assertThat(keys.retire(ACME, older)).isEqualTo(1);
        assertThat(keys.status(ACME)).get().extracting(TenantKeys.KeyStatus::keys).isEqualTo(1);

        assertThat(read(new EncryptingBlobStore(raw, load(Set.of(ACME))), ACME_BLOB)).isEqualTo(CONTENT);
    }

    @Test
    void tenantsAreDueForRotationByTheAgeOfTheirPrimaryKey() throws IOException {
        TenantKeys keys = load(Set.of());
        keys.create(ACME, false);

        assertThat(keys.dueForRotation(Duration.ofDays(90))).isEmpty();
        assertThat(keys.dueForRotation(Duration.ZERO)).containsExactly(ACME);
    }

    @Test
    void shreddingDestroysTheKeysetSoCopiesOfTheDataNeverReadAgain() throws IOException {
        MemoryBlobStore raw = new MemoryBlobStore();
        TenantKeys keys = load(Set.of());
        keys.create(ACME, false);
        write(new EncryptingBlobStore(raw, keys), ACME_BLOB);

        keys.shred(ACME);

        assertThat(metadata.read(h -> KeysetRows.find(h, ACME)).orElseThrow().shredded()).as("a tombstone").isTrue();
        assertThatThrownBy(() -> read(new EncryptingBlobStore(raw, keys), ACME_BLOB)).isInstanceOf(KeysUnavailableException.class)
                .hasMessageContaining("purged");
        TenantKeys restarted = load(Set.of(ACME));
        assertThatThrownBy(() -> restarted.forKey(ACME_BLOB)).as("after a restart too, never plaintext")
                .isInstanceOf(KeysUnavailableException.class);
        assertThatThrownBy(() -> restarted.create(ACME, false)).isInstanceOf(KeysUnavailableException.class);

        metadata.inTransaction(h -> TenantRows.delete(h, ACME));
        restarted.forgetShredded(ACME);
        restarted.create(ACME, false);
        assertThatThrownBy(() -> read(new EncryptingBlobStore(raw, restarted), ACME_BLOB))
                .as("a new keyset for the same ID does not open the old data").isInstanceOf(IntegrityViolationException.class);
    }

    private TenantKeys twoTenants() throws IOException {
        TenantKeys keys = load(Set.of());
        keys.create(ACME, false);
        keys.create(GLOBEX, false);
        return keys;
    }

    @Test
    void masterKeyRotationRewrapsEveryKeysetAndKeepsThemReadableAtEveryStep() throws IOException {
        TenantKeys keys = twoTenants();
        byte[] wrappedByOldMaster = row(GLOBEX);
        MasterKeyFile master = (MasterKeyFile) keys.master();

        master.addPrimaryKey();
        assertThat(load(Set.of(ACME, GLOBEX)).unavailable()).as("crash after the new master key").isEmpty();
        keys.rewrapAll();
        assertThat(load(Set.of(ACME, GLOBEX)).unavailable()).as("crash after rewrapping").isEmpty();
        master.removeOlderKeys();

        assertThat(master.keyCount()).isEqualTo(1);
        TenantKeys after = load(Set.of(ACME, GLOBEX));
        assertThat(after.unavailable()).isEmpty();
        assertThat(after.forTenant(ACME)).isPresent();
        setRow(GLOBEX, wrappedByOldMaster);
        assertThat(load(Set.of(ACME, GLOBEX)).unavailable()).as("the old master key is gone").containsOnlyKeys(GLOBEX);
    }

    @Test
    void aFailedRewrapLeavesEveryKeysetAsItWas() throws IOException {
        TenantKeys keys = twoTenants();
        byte[] acme = row(ACME);
        ((MasterKeyFile) keys.master()).addPrimaryKey();
        // The database refuses the second row's update: the first one's must not stay either.
        metadata.inTransaction(h -> h.execute("CREATE TRIGGER refuse BEFORE UPDATE ON tenant_keysets WHEN OLD.tenant_id = 'globex'"
                + " BEGIN SELECT RAISE(ABORT, 'refused'); END"));

        assertThatThrownBy(keys::rewrapAll).hasMessageContaining("refused");

        assertThat(row(ACME)).as("one transaction: nothing rewrapped").isEqualTo(acme);
        metadata.inTransaction(h -> h.execute("DROP TRIGGER refuse"));
        assertThat(keys.rewrapAll()).isEmpty();
        assertThat(row(ACME)).isNotEqualTo(acme);
    }

    @Test
    void aNodeWithAnotherMasterKeyMakesNoKeysetsAndDoesNotStart() throws Exception {
        TenantKeys first = load(Set.of());
        TenantKeys other = TenantKeys.load(dir, FixedMasterKey.fromJson(newMasterKeyset(), "OTHER"), metadata, clock);
        first.create(ACME, false);

        assertThatThrownBy(() -> other.create(GLOBEX, false)).as("its keysets would open nowhere else")
                .isInstanceOf(KeysUnavailableException.class).hasMessageContaining("master_key_check");
        assertThat(metadata.read(h -> KeysetRows.find(h, GLOBEX)).isPresent()).isFalse();

        first.shred(ACME);
        first.forgetShredded(ACME);
        assertThatThrownBy(() -> TenantKeys.load(dir, FixedMasterKey.fromJson(newMasterKeyset(), "OTHER"), metadata, clock))
                .as("even with no keyset left").isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("OTHER").hasMessageContaining("not the one the other nodes");
        assertThat(load(Set.of()).create(GLOBEX, false).keys()).isEqualTo(1);
    }

    private static String newMasterKeyset() throws java.security.GeneralSecurityException {
        AeadConfig.register();
        return TinkJsonProtoKeysetFormat.serializeKeyset(KeysetHandle.generateNew(PredefinedAeadParameters.AES256_GCM),
                InsecureSecretKeyAccess.get());
    }

    @Test
    void aFixedMasterKeyComesFromAKeysetInJsonAndNeverEchoesIt() throws Exception {
        AeadConfig.register();
        String json = TinkJsonProtoKeysetFormat.serializeKeyset(
                KeysetHandle.generateNew(PredefinedAeadParameters.AES256_GCM), InsecureSecretKeyAccess.get());
        FixedMasterKey master = FixedMasterKey.fromJson(json, "UNKEY_BUILDERD_MASTER_KEY");
        TenantKeys keys = TenantKeys.load(dir, master, metadata, clock);
        keys.create(ACME, false);

        assertThat(TenantKeys.load(dir, FixedMasterKey.fromJson(json, "X"), metadata, clock).forTenant(ACME)).isPresent();
        String secretish = json.substring(json.indexOf("\"value\""), json.indexOf("\"value\"") + 40);
        assertThatThrownBy(() -> FixedMasterKey.fromJson(json.substring(0, json.indexOf("\"value\"") + 40), "UNKEY_BUILDERD_MASTER_KEY"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("UNKEY_BUILDERD_MASTER_KEY is not a Tink AEAD keyset")
                .message().doesNotContain(secretish);
        assertThat(master.toString()).isEqualTo("FixedMasterKey[UNKEY_BUILDERD_MASTER_KEY]");
    }

    @Test
    void statusAndMessagesCarryNoKeyMaterial() throws IOException {
        TenantKeys keys = load(Set.of());
        keys.create(ACME, false);
        String file = new String(row(ACME), StandardCharsets.UTF_8);
        String marker = new ObjectMapper().readTree(file).get("marker").asText();

        assertThat(keys.status(ACME).orElseThrow().toString()).doesNotContain(marker);
        assertThat(keys.forTenant(ACME).orElseThrow().toString()).doesNotContain(marker);
        assertThat(keys.toString()).doesNotContain(marker);
        assertThat(file).as("the keyset is stored wrapped").doesNotContain("\"value\"").contains("encryptedKeyset");
    }

    @Test
    void theTenantIdMasterIsReserved() {
        assertThatThrownBy(() -> TenantId.of("master")).hasMessageContaining("reserved");
    }
}
