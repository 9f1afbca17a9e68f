package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.core.error.ConflictException;
import dev.builderd.storage.core.error.EncryptionKeysException;
import dev.builderd.storage.core.error.IntegrityException;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.ReencryptionRows;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import dev.builderd.storage.testing.ForwardingBlobStore;
import dev.builderd.storage.testing.MovableClock;
import dev.builderd.storage.testing.SeededBytes;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Encryption at rest through the core: what lands on disk, turning encryption on with data in
 * place (readable at every step, resumable after a restart, never overwriting a newer upload),
 * rotation, crypto-shredding, and the master key checks at start-up.
 */
class TenantEncryptionTest {

    private static final Principal ADMIN = new Principal.Admin();
    private static final TenantId ACME = TenantId.of("acme");
    private static final BuildRef B1 = new BuildRef(ACME, BuildId.of("b1"));
    private static final BuildRef B2 = new BuildRef(ACME, BuildId.of("b2"));

    @TempDir
    Path dataRoot;
    private final MovableClock clock = new MovableClock();
    private MetadataStore metadata;
    private GatedStore gated;
    private BuilderdStorage storage;

    /** The filesystem store, where a test can hold the re-encryption job's write of one key. */
    private static final class GatedStore extends ForwardingBlobStore {
        volatile String heldKey;
        final CountDownLatch reached = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);

        GatedStore(BlobStore delegate) {
            super(delegate);
        }

        @Override
        public BlobInfo put(BlobKey key, InputStream data, long length, WriteMode mode) throws IOException {
            if (key.value().equals(heldKey) && Thread.currentThread().getName().equals("builderd-reencryption")) {
                reached.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("stopped");
                }
            }
            return super.put(key, data, length, mode);
        }
    }

    @BeforeEach
    void open() throws IOException {
        metadata = MetadataStore.open(MetadataLocation.sqlite(dataRoot.resolve("metadata/builderd.db")));
        start();
    }

    private void start() throws IOException {
        gated = new GatedStore(new FileBlobStore(dataRoot));
        storage = new BuilderdStorage(CoreConfig.defaults(Layout.under(dataRoot)), metadata, Stores.single(gated),
                "admin-token-for-tests", clock);
    }

    private void restart() throws IOException {
        storage.close();
        start();
    }

    @AfterEach
    void close() {
        storage.close();
        metadata.close();
    }

    private void createBuild(BuildRef ref) {
        storage.builds().create(ADMIN, ref.tenant(), Optional.of(ref.build()), null);
    }

    private void upload(BuildRef ref, String name, byte[] content) {
        storage.artifacts().upload(ADMIN, ref, FileName.of(name), new ByteArrayInputStream(content), content.length, null);
    }

    private byte[] read(BuildRef ref, String name) throws IOException {
        try (InputStream in = storage.artifacts().describe(ADMIN, ref, FileName.of(name)).open(ByteRange.ALL)) {
            return in.readAllBytes();
        }
    }

    private Path onDisk(BuildRef ref, String name) {
        return dataRoot.resolve("tenants").resolve(ref.tenant().value()).resolve("builds").resolve(ref.build().value())
                .resolve("rootfs").resolve(name);
    }

    private static String sha256(byte[] bytes) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    }

    private Optional<dev.builderd.storage.core.metadata.KeysetRows.Keyset> keysetRow() {
        return metadata.read(h -> dev.builderd.storage.core.metadata.KeysetRows.find(h, ACME));
    }

    private TenantEncryption.Status status() {
        return storage.encryption().status(ADMIN, ACME);
    }

    private void awaitJob(ReencryptionRows.State state) {
        await().atMost(Duration.ofSeconds(60)).until(() -> status().reencryption().map(ReencryptionRows.Job::state).orElse(null) == state);
    }

    private double integrityFailures() {
        var snapshots = storage.metrics().scrape();
        return snapshots.stream().filter(s -> s.getMetadata().getName().equals("builderd_storage_integrity_failures"))
                .flatMap(s -> s.getDataPoints().stream())
                .mapToDouble(p -> ((io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot) p).getValue())
                .sum();
    }

    @Test
    void anEnterpriseTenantsDataIsEncryptedOnDiskAndReadsBackWithPlaintextDigests() throws Exception {
        storage.tenants().put(ADMIN, ACME, Tier.ENTERPRISE, null);
        createBuild(B1);
        byte[] content = SeededBytes.array(1, 700_000);

        upload(B1, "rootfs.tar", content);
        storage.logs().put(ADMIN, B1, FileName.of("build.log"), new ByteArrayInputStream("secret log".getBytes()), 10);

        assertThat(Files.readAllBytes(onDisk(B1, "rootfs.tar"))).isNotEqualTo(content).hasSizeGreaterThan(content.length);
        assertThat(Files.readString(onDisk(B1, "checksums.sha256"), StandardCharsets.ISO_8859_1)).doesNotContain("rootfs.tar");
        assertThat(Files.readString(dataRoot.resolve("tenants/acme/builds/b1/logs/build.log"), StandardCharsets.ISO_8859_1))
                .doesNotContain("secret log");
        assertThat(read(B1, "rootfs.tar")).isEqualTo(content);
        assertThat(storage.artifacts().describe(ADMIN, B1, FileName.of("rootfs.tar")).info().sha256()).isEqualTo(sha256(content));
        assertThat(storage.artifacts().describe(ADMIN, B1, FileName.of("rootfs.tar")).openFileChannel())
                .as("no raw file channel for ciphertext").isEmpty();
        assertThat(status().keys()).get().extracting(k -> k.acceptsPlaintext()).isEqualTo(false);
        assertThat(keysetRow()).as("the keyset is in the metadata store").isPresent();
        assertThat(dataRoot.resolve("config/encryption-keys/master.key")).exists();
    }

    @Test
    void aFreeTenantIsStoredAsItIs() throws Exception {
        storage.tenants().put(ADMIN, ACME, Tier.FREE, null);
        createBuild(B1);
        byte[] content = SeededBytes.array(2, 10_000);

        upload(B1, "app.tar", content);

        assertThat(Files.readAllBytes(onDisk(B1, "app.tar"))).isEqualTo(content);
        assertThat(status().enabled()).isFalse();
        assertThat(keysetRow()).isEmpty();
    }

    @Test
    void turningEncryptionOnEncryptsExistingDataInTheBackgroundReadableAtEveryStep() throws Exception {
        storage.tenants().put(ADMIN, ACME, Tier.PRO, null);
        createBuild(B1);
        byte[] a = SeededBytes.array(3, 300_000);
        byte[] b = SeededBytes.array(4, 500_000);
        upload(B1, "a.img", a);
        upload(B1, "b.img", b);
        storage.builds().complete(ADMIN, B1, dev.builderd.storage.core.model.BuildStatus.SUCCEEDED);
        gated.heldKey = "tenants/acme/builds/b1/rootfs/b.img";

        storage.tenants().put(ADMIN, ACME, Tier.PRO, true);

        assertThat(gated.reached.await(30, TimeUnit.SECONDS)).isTrue();
        assertThat(status().reencryption()).get().extracting(ReencryptionRows.Job::state).isEqualTo(ReencryptionRows.State.RUNNING);
        assertThat(Files.readAllBytes(onDisk(B1, "a.img"))).as("already encrypted").isNotEqualTo(a);
        assertThat(Files.readAllBytes(onDisk(B1, "b.img"))).as("not yet").isEqualTo(b);
        assertThat(read(B1, "a.img")).isEqualTo(a);
        assertThat(read(B1, "b.img")).isEqualTo(b);
        assertThat(status().keys()).get().extracting(k -> k.acceptsPlaintext()).isEqualTo(true);

        gated.release.countDown();
        awaitJob(ReencryptionRows.State.FINISHED);

        assertThat(Files.readAllBytes(onDisk(B1, "b.img"))).isNotEqualTo(b);
        assertThat(read(B1, "a.img")).isEqualTo(a);
        assertThat(read(B1, "b.img")).isEqualTo(b);
        ReencryptionRows.Job job = status().reencryption().orElseThrow();
        assertThat(job.blobsRewritten()).as("two artifacts, manifest and checksums").isEqualTo(4);
        assertThat(job.blobsDone()).isEqualTo(job.blobsTotal());
        assertThat(job.bytesRewritten()).isGreaterThanOrEqualTo(a.length + b.length);
        assertThat(status().keys()).get().extracting(k -> k.acceptsPlaintext()).isEqualTo(false);

        Files.write(onDisk(B1, "a.img"), a);
        assertThatThrownBy(() -> read(B1, "a.img")).as("plaintext is no longer accepted once all was encrypted")
                .isInstanceOf(IntegrityException.class);
        assertThat(integrityFailures()).isEqualTo(1.0);
    }

    @Test
    void anInterruptedJobResumesAfterARestartAndLosesNothing() throws Exception {
        storage.tenants().put(ADMIN, ACME, Tier.PRO, null);
        createBuild(B1);
        byte[] a = SeededBytes.array(5, 200_000);
        byte[] b = SeededBytes.array(6, 200_000);
        upload(B1, "a.img", a);
        upload(B1, "b.img", b);
        storage.builds().complete(ADMIN, B1, dev.builderd.storage.core.model.BuildStatus.SUCCEEDED);
        gated.heldKey = "tenants/acme/builds/b1/rootfs/b.img";
        storage.tenants().put(ADMIN, ACME, Tier.PRO, true);
        assertThat(gated.reached.await(30, TimeUnit.SECONDS)).isTrue();

        restart();

        awaitJob(ReencryptionRows.State.FINISHED);
        assertThat(read(B1, "a.img")).isEqualTo(a);
        assertThat(read(B1, "b.img")).isEqualTo(b);
        assertThat(Files.readAllBytes(onDisk(B1, "b.img"))).isNotEqualTo(b);
        try (var files = Files.list(onDisk(B1, "b.img").getParent())) {
            assertThat(files.map(p -> p.getFileName().toString())).as("no temporary file left").noneMatch(n -> n.startsWith(".~"));
        }
    }

    @Test
    void theJobNeverOverwritesAnUploadInFlightItWaitsForTheBuildToBeQuiet() throws Exception {
        storage.tenants().put(ADMIN, ACME, Tier.PRO, null);
        createBuild(B1);
        upload(B1, "a.img", SeededBytes.array(7, 1000));
        CountDownLatch bodyStarted = new CountDownLatch(1);
        CountDownLatch finishBody = new CountDownLatch(1);
        byte[] newer = SeededBytes.array(8, 5000);
        InputStream slowBody = new java.io.SequenceInputStream(new ByteArrayInputStream(newer, 0, 100), new InputStream() {
            private final InputStream rest = new ByteArrayInputStream(newer, 100, newer.length - 100);

            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] buffer, int off, int len) throws IOException {
                bodyStarted.countDown();
                try {
                    finishBody.await();
                } catch (InterruptedException e) {
                    throw new java.io.InterruptedIOException();
                }
                return rest.read(buffer, off, len);
            }
        });
        CompletableFuture<Void> upload = CompletableFuture.runAsync(() ->
                storage.artifacts().upload(ADMIN, B1, FileName.of("a.img"), slowBody, newer.length, null));
        assertThat(bodyStarted.await(30, TimeUnit.SECONDS)).isTrue();

        storage.tenants().put(ADMIN, ACME, Tier.PRO, true);

        await().atMost(Duration.ofSeconds(30)).until(() -> status().reencryption().map(j -> j.blobsWaiting() > 0).orElse(false));
        assertThat(status().reencryption().orElseThrow().state()).as("waits for the build").isEqualTo(ReencryptionRows.State.RUNNING);
        assertThat(Files.readAllBytes(onDisk(B1, "a.img"))).as("left alone meanwhile").isEqualTo(SeededBytes.array(7, 1000));
        finishBody.countDown();
        upload.get(30, TimeUnit.SECONDS);
        awaitJob(ReencryptionRows.State.FINISHED);

        assertThat(read(B1, "a.img")).as("the newer upload stays").isEqualTo(newer);
        assertThat(Files.readAllBytes(onDisk(B1, "a.img"))).isNotEqualTo(newer);
    }

    @Test
    void encryptionCannotBeTurnedOff() {
        storage.tenants().put(ADMIN, ACME, Tier.PRO, true);

        assertThatThrownBy(() -> storage.tenants().put(ADMIN, ACME, Tier.PRO, false))
                .isInstanceOf(ConflictException.class).hasMessageContaining("cannot be turned off");
        assertThat(storage.tenants().put(ADMIN, ACME, Tier.FREE, null).tenant().encryption()).as("a tier change keeps it").isTrue();
    }

    @Test
    void rotationWithReencryptionRetiresTheOldKeyAndKeepsEverythingReadable() throws Exception {
        storage.tenants().put(ADMIN, ACME, Tier.ENTERPRISE, null);
        createBuild(B1);
        byte[] a = SeededBytes.array(9, 300_000);
        upload(B1, "a.img", a);
        String before = status().keys().orElseThrow().primaryKeyId();

        TenantEncryption.Status rotated = storage.encryption().rotate(ADMIN, ACME, false);
        assertThat(rotated.keys().orElseThrow().keys()).isEqualTo(2);
        assertThat(rotated.keys().orElseThrow().primaryKeyId()).isNotEqualTo(before);
        assertThat(read(B1, "a.img")).isEqualTo(a);

        storage.encryption().reencrypt(ADMIN, ACME);
        awaitJob(ReencryptionRows.State.FINISHED);

        assertThat(status().keys().orElseThrow().keys()).isEqualTo(1);
        restart();
        assertThat(read(B1, "a.img")).isEqualTo(a);
    }

    @Test
    void keysOlderThanTheRotationIntervalAreRotatedAutomatically() throws Exception {
        storage.tenants().put(ADMIN, ACME, Tier.ENTERPRISE, null);
        clock.advance(Duration.ofDays(91));

        restart();

        await().atMost(Duration.ofSeconds(30)).until(() -> status().keys().orElseThrow().keys() == 2);
        assertThat(status().nextRotation()).get().isEqualTo(clock.instant().plus(Duration.ofDays(90)));
    }

    @Test
    void purgingShredsTheKeysetFirstSoACopyOfTheDataNeverReadsAgain() throws Exception {
        storage.tenants().put(ADMIN, ACME, Tier.ENTERPRISE, null);
        createBuild(B1);
        byte[] a = SeededBytes.array(10, 100_000);
        upload(B1, "a.img", a);
        Path copy = dataRoot.resolve("stolen-copy");
        Files.copy(onDisk(B1, "a.img"), copy);

        storage.tenants().purge(ADMIN, ACME);

        assertThat(keysetRow()).as("purge finished: not even a tombstone").isEmpty();
        storage.tenants().put(ADMIN, ACME, Tier.ENTERPRISE, null);
        createBuild(B1);
        upload(B1, "a.img", new byte[] {1});
        Files.copy(copy, onDisk(B1, "a.img"), StandardCopyOption.REPLACE_EXISTING);
        assertThatThrownBy(() -> read(B1, "a.img")).isInstanceOf(IntegrityException.class);
    }

    @Test
    void aPurgeInterruptedAfterShreddingKeepsTheTenantUnreadableUntilItIsFinished() throws Exception {
        storage.tenants().put(ADMIN, ACME, Tier.ENTERPRISE, null);
        createBuild(B1);
        upload(B1, "a.img", SeededBytes.array(11, 1000));

        storage.encryption().shred(ACME);
        restart();

        assertThatThrownBy(() -> read(B1, "a.img")).isInstanceOf(EncryptionKeysException.class).hasMessageContaining("purged");
        assertThatThrownBy(() -> storage.tenants().put(ADMIN, ACME, Tier.ENTERPRISE, null)).isInstanceOf(ConflictException.class)
                .hasMessageContaining("being purged");
        storage.tenants().purge(ADMIN, ACME);
        assertThat(dataRoot.resolve("tenants/acme/builds/b1")).doesNotExist();
    }

    @Test
    void aWrongOrMissingMasterKeyRefusesToStart() throws Exception {
        storage.tenants().put(ADMIN, ACME, Tier.ENTERPRISE, null);
        Path master = dataRoot.resolve("config/encryption-keys/master.key");
        Path saved = dataRoot.resolve("master.saved");
        storage.close();
        Files.move(master, saved);

        assertThatThrownBy(this::start).isInstanceOf(IllegalStateException.class).hasMessageContaining("is missing");
        assertThat(master).as("never recreated").doesNotExist();

        metadata.inTransaction(h -> h.createUpdate("DELETE FROM tenant_keysets").execute());
        assertThatThrownBy(this::start).as("keysets gone too, but the tenant is encrypted")
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("1 tenant(s) are encrypted");
        assertThat(master).doesNotExist();
        Files.move(saved, master);
        start();
    }

    @Test
    void masterKeyRotationRewrapsTheTenantKeysAndSurvivesARestart() throws Exception {
        storage.tenants().put(ADMIN, ACME, Tier.ENTERPRISE, null);
        createBuild(B1);
        byte[] a = SeededBytes.array(12, 1000);
        upload(B1, "a.img", a);
        String masterBefore = Files.readString(dataRoot.resolve("config/encryption-keys/master.key"));

        TenantEncryption.MasterRotation rotation = storage.encryption().rotateMaster(ADMIN);

        assertThat(rotation.olderKeysRemoved()).isTrue();
        assertThat(rotation.tenantKeysets()).isEqualTo(1);
        assertThat(Files.readString(dataRoot.resolve("config/encryption-keys/master.key"))).isNotEqualTo(masterBefore);
        restart();
        assertThat(read(B1, "a.img")).isEqualTo(a);
    }

    @Test
    void onlyTheAdminRotatesKeysAndATenantSeesOnlyItsOwnStatus() {
        storage.tenants().put(ADMIN, ACME, Tier.ENTERPRISE, null);
        Principal tenant = new Principal.Tenant(ACME, "t1");

        assertThat(storage.encryption().status(tenant, ACME).enabled()).isTrue();
        assertThatThrownBy(() -> storage.encryption().rotate(tenant, ACME, false))
                .isInstanceOf(dev.builderd.storage.core.error.ForbiddenException.class);
        assertThatThrownBy(() -> storage.encryption().status(tenant, TenantId.of("globex")))
                .isInstanceOf(dev.builderd.storage.core.error.ForbiddenException.class);
    }
}
