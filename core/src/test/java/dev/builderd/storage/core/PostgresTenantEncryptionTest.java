package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import com.google.crypto.tink.InsecureSecretKeyAccess;
import com.google.crypto.tink.KeysetHandle;
import com.google.crypto.tink.TinkJsonProtoKeysetFormat;
import com.google.crypto.tink.aead.AeadConfig;
import com.google.crypto.tink.aead.PredefinedAeadParameters;
import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.DataKeyring;
import dev.builderd.storage.blob.EncryptingBlobStore;
import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.core.crypto.EncryptionConfig;
import dev.builderd.storage.core.crypto.FixedMasterKey;
import dev.builderd.storage.core.crypto.KeysUnavailableException;
import dev.builderd.storage.core.error.ConflictException;
import dev.builderd.storage.core.error.EncryptionKeysException;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.NodeRows;
import dev.builderd.storage.core.metadata.ReencryptionRows;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.BuildStatus;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import dev.builderd.storage.testing.ForwardingBlobStore;
import dev.builderd.storage.testing.PostgresServer;
import dev.builderd.storage.testing.SeededBytes;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An encrypted tenant across two nodes ({@link TwoNodeTest}: one real PostgreSQL, one shared
 * store, the same master key): keys made on one node work on the other, a rotation on one is
 * used by the other for writes at once and for reads of what it wrote, a purge on one stops the
 * other, and a re-encryption job runs on one node only and moves to the survivor when that node stops.
 */
class PostgresTenantEncryptionTest extends TwoNodeTest {

    private static final Principal ADMIN = new Principal.Admin();
    private static final TenantId ACME = TenantId.of("acme");
    private static final BuildRef B1 = new BuildRef(ACME, BuildId.of("b1"));
    private static final String MASTER = masterKeyset();

    /** Each node's way to the shared store: counts the re-encryption job's writes, and can hold one of them. */
    private final ReencryptionWrites[] writes = new ReencryptionWrites[2];

    private static final class ReencryptionWrites extends ForwardingBlobStore {
        final AtomicInteger count = new AtomicInteger();
        volatile String heldKey;
        final CountDownLatch reached = new CountDownLatch(1);

        ReencryptionWrites(BlobStore shared) {
            super(shared);
        }

        @Override
        public BlobInfo put(BlobKey key, InputStream data, long length, WriteMode mode) throws IOException {
            boolean job = Thread.currentThread().getName().equals("builderd-reencryption");
            if (job && key.value().equals(heldKey)) {
                reached.countDown();
                try {
                    new CountDownLatch(1).await();
                } catch (InterruptedException stopped) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("the node stopped");
                }
            }
            BlobInfo info = super.put(key, data, length, mode);
            if (job) {
                count.incrementAndGet();
            }
            return info;
        }
    }

    private static String masterKeyset() {
        try {
            AeadConfig.register();
            return TinkJsonProtoKeysetFormat.serializeKeyset(KeysetHandle.generateNew(PredefinedAeadParameters.AES256_GCM),
                    InsecureSecretKeyAccess.get());
        } catch (java.security.GeneralSecurityException e) {
            throw new AssertionError(e);
        }
    }

    @Override
    CoreConfig configure(CoreConfig defaults) {
        // Every node has the same master key (docs/deployment.md); short leases so that a stopped node's jobs move quickly.
        return defaults.withCluster(new CoreConfig.Cluster(Duration.ofSeconds(1)))
                .withEncryption(new EncryptionConfig(new EncryptionConfig.MasterKeyOrigin.Given(FixedMasterKey.fromJson(MASTER, "test")),
                        EncryptionConfig.DEFAULT_ROTATION));
    }

    @Override
    BlobStore view(int node, BlobStore store) {
        writes[node] = new ReencryptionWrites(store);
        return writes[node];
    }

    private static void upload(BuilderdStorage node, String name, byte[] content) {
        node.artifacts().upload(ADMIN, B1, FileName.of(name), new ByteArrayInputStream(content), content.length, null);
    }

    private static byte[] read(BuilderdStorage node, String name) throws IOException {
        try (InputStream in = node.artifacts().describe(ADMIN, B1, FileName.of(name)).open(ByteRange.ALL)) {
            return in.readAllBytes();
        }
    }

    private BlobKey keyOf(String name) {
        return BlobKey.of("tenants/acme/builds/b1/rootfs/" + name);
    }

    /** The blob's bytes as the shared store holds them. */
    private byte[] stored(String name) throws IOException {
        try (InputStream in = new FileBlobStore(shared).open(keyOf(name), ByteRange.ALL)) {
            return in.readAllBytes();
        }
    }

    /** The id of the data key a stored blob was encrypted with, from its envelope. */
    private int storedKeyId(String name) throws IOException {
        try (InputStream in = new FileBlobStore(shared).open(keyOf(name), new ByteRange(0, EncryptingBlobStore.ENVELOPE_SIZE))) {
            return ByteBuffer.wrap(in.readAllBytes(), DataKeyring.MARKER_SIZE, Integer.BYTES).getInt();
        }
    }

    private static int primaryOf(BuilderdStorage node) {
        return Integer.parseUnsignedInt(node.encryption().status(ADMIN, ACME).keys().orElseThrow().primaryKeyId());
    }

    private void encryptedTenantWithABuild() {
        a.tenants().put(ADMIN, ACME, Tier.ENTERPRISE, null);
        a.builds().create(ADMIN, ACME, Optional.of(B1.build()), null);
    }

    /** An encrypted tenant made on A, with {@code app.img} uploaded through A and read through B (so both hold its keyset). */
    private byte[] appUploadedOnAReadOnB(int seed, int size) throws IOException {
        encryptedTenantWithABuild();
        byte[] content = SeededBytes.array(seed, size);
        upload(a, "app.img", content);
        assertThat(read(b, "app.img")).isEqualTo(content);
        return content;
    }

    @Test
    void anEncryptedTenantMadeOnOneNodeIsReadOnTheOther() throws IOException {
        byte[] content = appUploadedOnAReadOnB(1, 300_000);

        assertThat(stored("app.img")).as("ciphertext in the shared store").isNotEqualTo(content);
        assertThat(b.encryption().status(ADMIN, ACME).keys()).isPresent();
        assertThat(b.encryption().unavailableKeys()).isEmpty();
    }

    @Test
    void aRotationOnOneNodeIsUsedByTheOtherForWritesAtOnceAndItsBlobsReadThere() throws IOException {
        encryptedTenantWithABuild();
        byte[] before = SeededBytes.array(2, 100_000);
        upload(a, "before.img", before);
        assertThat(read(b, "before.img")).as("both nodes hold the keyset now").isEqualTo(before);
        int first = primaryOf(a);

        b.encryption().rotate(ADMIN, ACME, false);
        int second = primaryOf(b);
        byte[] fromB = SeededBytes.array(4, 100_000);
        upload(b, "from-b.img", fromB);

        assertThat(read(a, "from-b.img")).as("A reads a blob under a key it may not have loaded").isEqualTo(fromB);
        byte[] fromA = SeededBytes.array(3, 100_000);
        upload(a, "from-a.img", fromA);
        assertThat(second).isNotEqualTo(first);
        assertThat(storedKeyId("from-a.img")).as("node A writes with the primary made on B").isEqualTo(second);
        assertThat(storedKeyId("from-b.img")).isEqualTo(second);
        assertThat(read(a, "before.img")).isEqualTo(before);
        assertThat(read(b, "from-a.img")).isEqualTo(fromA);
        assertThat(a.encryption().status(ADMIN, ACME).keys().orElseThrow().keys()).isEqualTo(2);
    }

    @Test
    void aShreddedKeysetStopsWritesOnEveryNodeAtOnce() throws IOException {
        appUploadedOnAReadOnB(5, 10_000);

        // The first step of a purge on A (an interrupted purge stays here).
        a.encryption().shred(ACME);

        EncryptingBlobStore viewOfB = b.encryption().encryptingView(new FileBlobStore(shared));
        assertThatThrownBy(() -> viewOfB.put(keyOf("new.img"), new ByteArrayInputStream(new byte[10]), 10, WriteMode.OVERWRITE))
                .as("B never encrypts for a shredded keyset it still caches").isInstanceOf(KeysUnavailableException.class)
                .hasMessageContaining("purged");
        assertThatThrownBy(() -> upload(b, "new.img", new byte[10])).isInstanceOf(EncryptionKeysException.class);
        assertThatThrownBy(() -> b.tenants().put(ADMIN, ACME, Tier.ENTERPRISE, null)).isInstanceOf(ConflictException.class)
                .hasMessageContaining("being purged");
    }

    @Test
    void aPurgeOnOneNodeLeavesTheOtherUnableToReadOrWriteTheTenant() throws IOException {
        byte[] content = appUploadedOnAReadOnB(6, 50_000);
        byte[] stolen = stored("app.img");

        a.tenants().purge(ADMIN, ACME);

        assertThatThrownBy(() -> read(b, "app.img")).isInstanceOf(NotFoundException.class);
        assertThatThrownBy(() -> upload(b, "app.img", content)).isInstanceOf(NotFoundException.class);
        // A copy of the ciphertext put back where it was: B's cached keyset goes within TenantKeys.RECHECK.
        new FileBlobStore(shared).put(keyOf("app.img"), new ByteArrayInputStream(stolen), stolen.length, WriteMode.OVERWRITE);
        EncryptingBlobStore viewOfB = b.encryption().encryptingView(new FileBlobStore(shared));
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            try (InputStream in = viewOfB.open(keyOf("app.img"), ByteRange.ALL)) {
                assertThat(Arrays.equals(in.readAllBytes(), content)).as("the copy never decrypts again").isFalse();
            }
        });
    }

    @Test
    void aReencryptionJobRunsOnOneNodeAndMovesToTheSurvivorWhenThatNodeStops() throws IOException, InterruptedException {
        // A started first, so A holds every job lease, the re-encryption one included.
        await().atMost(Duration.ofSeconds(30)).until(() -> a.jobLeases().holds(JobLeases.Job.REENCRYPTION));
        assertThat(b.jobLeases().holds(JobLeases.Job.REENCRYPTION)).isFalse();
        encryptedTenantWithABuild();
        upload(a, "a.img", SeededBytes.array(7, 200_000));
        upload(a, "b.img", SeededBytes.array(8, 200_000));
        a.builds().complete(ADMIN, B1, BuildStatus.SUCCEEDED);
        writes[0].heldKey = keyOf("b.img").value();

        // Started on B; run by the holder of the lease, A, which stops at its second blob.
        b.encryption().rotate(ADMIN, ACME, true);

        assertThat(writes[0].reached.await(30, TimeUnit.SECONDS)).as("A runs the job").isTrue();
        assertThat(b.encryption().status(ADMIN, ACME).reencryption().orElseThrow().state()).isEqualTo(ReencryptionRows.State.RUNNING);
        assertThat(writes[0].count.get()).isEqualTo(1);
        assertThat(writes[1].count.get()).as("B does not run it too").isZero();

        nodes.stopA();

        await().atMost(Duration.ofSeconds(60)).until(() -> b.encryption().status(ADMIN, ACME).reencryption()
                .map(ReencryptionRows.Job::state).orElse(null) == ReencryptionRows.State.FINISHED);
        ReencryptionRows.Job job = b.encryption().status(ADMIN, ACME).reencryption().orElseThrow();
        assertThat(writes[0].count.get()).as("A wrote nothing more").isEqualTo(1);
        assertThat(writes[1].count.get()).as("B resumed after A's last blob").isEqualTo(3);
        assertThat(job.blobsRewritten()).as("two artifacts, manifest and checksums, each rewritten once").isEqualTo(4);
        assertThat(b.encryption().status(ADMIN, ACME).keys().orElseThrow().keys()).as("the older key retired").isEqualTo(1);
        assertThat(read(b, "a.img")).isEqualTo(SeededBytes.array(7, 200_000));
        assertThat(read(b, "b.img")).isEqualTo(SeededBytes.array(8, 200_000));
    }

    @Test
    void aNodesOwnMasterKeyFileIsNotRotatedWhileOtherNodesShareTheStore(@TempDir Path root) throws IOException {
        try (MetadataStore metadata = MetadataStore.open(MetadataLocation.parse(PostgresServer.shared().newDatabase().url()));
                BuilderdStorage node = new BuilderdStorage(CoreConfig.defaults(Layout.under(root)), metadata,
                        Stores.single(new FileBlobStore(root)), "admin-token-for-tests", java.time.Clock.systemUTC())) {
            node.tenants().put(ADMIN, ACME, Tier.ENTERPRISE, null);
            metadata.inTransaction(h -> {
                NodeRows.advertise(h, "node-b", "http://node-b:8082", 0);
                return null;
            });
            Path masterFile = root.resolve("config/encryption-keys/master.key");
            String master = Files.readString(masterFile);

            assertThatThrownBy(() -> node.encryption().rotateMaster(ADMIN)).isInstanceOf(ConflictException.class)
                    .hasMessageContaining("this node's own file").hasMessageContaining("[node-b]");
            assertThat(Files.readString(masterFile)).as("nothing changed").isEqualTo(master);

            metadata.inTransaction(h -> h.createUpdate("DELETE FROM nodes WHERE node = 'node-b'").execute());
            assertThat(node.encryption().rotateMaster(ADMIN).olderKeysRemoved()).as("alone, it rotates").isTrue();
            assertThat(node.encryption().status(ADMIN, ACME).keys()).isPresent();
        }
    }
}
