package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.blob.ReplicatingBlobStore;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
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
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Replication through the durable queue in the metadata store, with a filesystem primary and a
 * filesystem replica: the worker is driven by hand ({@link Replication#drain}) on a clock the
 * test moves, so retries and the delete delay are tested without waiting. Runs on SQLite;
 * {@link PostgresReplicationTest} runs it on PostgreSQL.
 */
class ReplicationTest {

    private static final Principal ADMIN = new Principal.Admin();
    private static final TenantId ACME = TenantId.of("acme");
    private static final BuildRef B1 = new BuildRef(ACME, BuildId.of("b1"));
    private static final Duration DELAY = Duration.ofHours(24);

    @TempDir
    Path dataRoot;
    @TempDir
    Path replicaRoot;

    private final MovableClock clock = new MovableClock();
    private final AtomicBoolean replicaDown = new AtomicBoolean();
    private MetadataLocation location;
    private MetadataStore metadata;
    private FileBlobStore primary;
    private FileBlobStore replica;
    private ReplicatingBlobStore replicating;
    private BuilderdStorage storage;

    MetadataLocation metadataLocation() {
        return MetadataLocation.sqlite(dataRoot.resolve("metadata/builderd.db"));
    }

    @BeforeEach
    void open() throws IOException {
        location = metadataLocation();
        primary = new FileBlobStore(dataRoot);
        replica = new FileBlobStore(replicaRoot);
        start(DELAY);
    }

    /** Opens the metadata store and the storage over the replicating store; the worker never polls by itself. */
    private void start(Duration deleteDelay) throws IOException {
        metadata = MetadataStore.open(location);
        BlobStore secondary = new ForwardingBlobStore(replica) {
            @Override
            public BlobInfo put(BlobKey key, InputStream data, long length, WriteMode mode) throws IOException {
                if (replicaDown.get()) {
                    throw new IOException("the replica region is unreachable");
                }
                return super.put(key, data, length, mode);
            }
        };
        replicating = new ReplicatingBlobStore(primary, secondary, new ReplicationScope(false), new ReplicationQueue(metadata, clock));
        CoreConfig config = CoreConfig.defaults(Layout.under(dataRoot))
                .withReplication(new CoreConfig.Replication(deleteDelay, Duration.ZERO, Duration.ofDays(365), 2));
        storage = new BuilderdStorage(config, metadata, Stores.single(replicating), "admin-token-for-tests", clock);
    }

    private void stop() {
        storage.close();
        metadata.close();
    }

    @AfterEach
    void close() {
        stop();
    }

    private Replication replication() {
        return storage.replication().orElseThrow();
    }

    private void tenantWithBuild(Tier tier) {
        storage.tenants().put(ADMIN, ACME, tier, null);
        storage.builds().create(ADMIN, ACME, Optional.of(B1.build()), null);
    }

    private byte[] upload(String name, int size) {
        byte[] data = SeededBytes.array(size, size);
        storage.artifacts().upload(ADMIN, B1, FileName.of(name), new ByteArrayInputStream(data), data.length, null);
        return data;
    }

    private static byte[] read(BlobStore store, String key) throws IOException {
        try (InputStream in = store.open(BlobKey.of(key), ByteRange.ALL)) {
            return in.readAllBytes();
        }
    }

    private List<String> keys(BlobStore store) throws IOException {
        List<String> keys = new ArrayList<>();
        store.list("tenants/", null).forEachRemaining(blob -> keys.add(blob.key().value()));
        return keys;
    }

    @Test
    void anUploadedArtifactIsCopiedToTheReplicaAndTheLagFallsBackToZero() throws IOException {
        tenantWithBuild(Tier.PRO);
        upload("rootfs.img", 300_000);
        clock.advance(Duration.ofSeconds(7));

        Replication.Status pending = replication().status();
        assertThat(pending.pending()).as("the image, its manifest and checksums").isEqualTo(3);
        assertThat(pending.pendingBytes()).isGreaterThanOrEqualTo(300_000);
        assertThat(pending.lag()).isEqualTo(Duration.ofSeconds(7));
        assertThat(storage.metrics().scrape().stream().map(m -> m.getMetadata().getName()))
                .contains("builderd_replication_lag_seconds", "builderd_replication_lag_bytes", "builderd_replication_queue_entries");

        assertThat(replication().drain()).isEqualTo(3);

        assertThat(read(replica, "tenants/acme/builds/b1/rootfs/rootfs.img")).isEqualTo(read(primary, "tenants/acme/builds/b1/rootfs/rootfs.img"));
        assertThat(keys(replica)).isEqualTo(keys(primary).stream().filter(key -> key.contains("/rootfs/")).toList());
        Replication.Status done = replication().status();
        assertThat(done.pending()).isZero();
        assertThat(done.lag()).isZero();
        assertThat(done.pendingBytes()).isZero();
    }

    @Test
    void theQueueSurvivesARestartAndTheWorkerResumes() throws IOException {
        tenantWithBuild(Tier.PRO);
        byte[] image = upload("rootfs.img", 100_000);
        stop();

        start(DELAY);
        assertThat(replication().status().pending()).isEqualTo(3);
        replication().drain();

        assertThat(read(replica, "tenants/acme/builds/b1/rootfs/rootfs.img")).isEqualTo(image);
    }

    @Test
    void aFailedCopyIsRetriedWithBackoffUntilTheReplicaRecovers() throws IOException {
        tenantWithBuild(Tier.PRO);
        upload("rootfs.img", 10_000);
        replicaDown.set(true);

        assertThat(replication().drain()).isEqualTo(3);
        Replication.Status failing = replication().status();
        assertThat(failing.failing()).isEqualTo(3);
        assertThat(failing.failures()).allSatisfy(entry -> {
            assertThat(entry.attempts()).isEqualTo(1);
            assertThat(entry.lastError()).get().asString().contains("the replica region is unreachable");
        });
        assertThat(replication().drain()).as("not due again before the backoff").isZero();

        replicaDown.set(false);
        clock.advance(Duration.ofSeconds(1));
        assertThat(replication().drain()).isEqualTo(3);

        assertThat(replication().status().pending()).isZero();
        assertThat(replica.stat(BlobKey.of("tenants/acme/builds/b1/rootfs/rootfs.img"))).isPresent();
    }

    @Test
    void aPurgeReachesTheReplicaOnlyAfterTheDeleteDelay() throws IOException {
        tenantWithBuild(Tier.PRO);
        byte[] image = upload("rootfs.img", 50_000);
        replication().drain();

        storage.tenants().purge(ADMIN, ACME);
        assertThat(primary.stat(BlobKey.of("tenants/acme/builds/b1/rootfs/rootfs.img"))).isEmpty();
        replication().drain();
        clock.advance(DELAY.minusMinutes(1));
        replication().drain();

        assertThat(read(replica, "tenants/acme/builds/b1/rootfs/rootfs.img")).as("still in the replica within the delay").isEqualTo(image);
        Replication.Status waiting = replication().status();
        assertThat(waiting.pending()).isZero();
        assertThat(waiting.lag()).as("a deletion waiting for its delay is no lag").isZero();
        assertThat(waiting.deferredDeletes()).isEqualTo(3);

        clock.advance(Duration.ofMinutes(2));
        replication().drain();

        assertThat(keys(replica)).isEmpty();
        assertThat(replication().status().deferredDeletes()).isZero();
    }

    @Test
    void aShorterDelayConfiguredAtTheNextStartAppliesToWaitingDeletions() throws IOException {
        tenantWithBuild(Tier.PRO);
        upload("rootfs.img", 1000);
        replication().drain();
        storage.tenants().purge(ADMIN, ACME);
        replication().drain();
        assertThat(replication().status().deferredDeletes()).isEqualTo(3);
        stop();

        start(Duration.ZERO);
        replication().drain();

        assertThat(keys(replica)).isEmpty();
    }

    @Test
    void aKeyWrittenAgainWithinTheDelayIsCopiedNotDeleted() throws IOException {
        BlobKey key = BlobKey.of("tenants/acme/builds/b1/logs/build.log");
        replicating.put(key, new ByteArrayInputStream("one".getBytes()), 3, WriteMode.OVERWRITE);
        replication().drain();
        replicating.delete(key);
        replication().drain();
        clock.advance(Duration.ofHours(1));

        replicating.put(key, new ByteArrayInputStream("two!".getBytes()), 4, WriteMode.OVERWRITE);
        replication().drain();
        clock.advance(DELAY.plusHours(1));
        replication().drain();

        assertThat(new String(read(replica, key.value()))).isEqualTo("two!");
        assertThat(replication().status().deferredDeletes()).isZero();
    }

    @Test
    void theRepairJobFindsEveryDivergenceAndTheWorkerFixesIt() throws IOException {
        for (String name : List.of("a", "b", "c")) {
            replicating.put(BlobKey.of("tenants/acme/builds/b1/rootfs/" + name), new ByteArrayInputStream(name.repeat(10).getBytes()), 10,
                    WriteMode.OVERWRITE);
        }
        replication().drain();
        // Planted behind the replication's back:
        replica.delete(BlobKey.of("tenants/acme/builds/b1/rootfs/b"));
        replica.put(BlobKey.of("tenants/acme/builds/b1/rootfs/c"), new ByteArrayInputStream("short".getBytes()), 5, WriteMode.OVERWRITE);
        replica.put(BlobKey.of("tenants/acme/builds/b1/rootfs/stray"), new ByteArrayInputStream("x".getBytes()), 1, WriteMode.OVERWRITE);
        primary.put(BlobKey.of("tenants/acme/builds/b1/rootfs/d"), new ByteArrayInputStream("d".getBytes()), 1, WriteMode.OVERWRITE);
        primary.put(BlobKey.of("tenants/acme/builds/b1/workspace/scratch"), new ByteArrayInputStream("w".getBytes()), 1,
                WriteMode.OVERWRITE);

        Replication.Repair repair = replication().repairIfIdle().orElseThrow();

        assertThat(repair.missingInReplica()).as("b and d").isEqualTo(2);
        assertThat(repair.sizeDiffers()).as("c").isEqualTo(1);
        assertThat(repair.onlyInReplica()).as("stray").isEqualTo(1);
        assertThat(repair.primaryBlobs()).as("a b c d; the workspace is not replicated").isEqualTo(4);
        replication().drain();
        assertThat(keys(replica)).containsExactly("tenants/acme/builds/b1/rootfs/a", "tenants/acme/builds/b1/rootfs/b",
                "tenants/acme/builds/b1/rootfs/c", "tenants/acme/builds/b1/rootfs/d", "tenants/acme/builds/b1/rootfs/stray");
        assertThat(new String(read(replica, "tenants/acme/builds/b1/rootfs/c"))).isEqualTo("c".repeat(10));

        clock.advance(DELAY.plusMinutes(1));
        replication().drain();
        assertThat(keys(replica)).doesNotContain("tenants/acme/builds/b1/rootfs/stray");
        assertThat(replication().repairIfIdle().orElseThrow().divergences()).isZero();
    }

    @Test
    void theScrubRepairsADamagedEncryptedArtifactFromTheReplica() throws Exception {
        tenantWithBuild(Tier.ENTERPRISE);
        byte[] image = upload("rootfs.img", 200_000);
        replication().drain();
        Path stored = dataRoot.resolve("tenants/acme/builds/b1/rootfs/rootfs.img");
        byte[] ciphertext = java.nio.file.Files.readAllBytes(stored);
        assertThat(ciphertext).as("encrypted at rest").isNotEqualTo(image);
        try (RandomAccessFile raw = new RandomAccessFile(stored.toFile(), "rw")) {
            raw.seek(100_000);
            int b = raw.read();
            raw.seek(100_000);
            raw.write(b ^ 0x01);
        }

        IntegrityScrub.Status pass = storage.scrub().runPassIfIdle();

        assertThat(pass.repaired()).isEqualTo(1);
        assertThat(pass.corruptFound()).isZero();
        assertThat(pass.findings()).isEmpty();
        assertThat(java.nio.file.Files.readAllBytes(stored)).isEqualTo(ciphertext);
        try (InputStream in = storage.artifacts().describe(ADMIN, B1, FileName.of("rootfs.img")).open(ByteRange.ALL)) {
            assertThat(in.readAllBytes()).isEqualTo(image);
        }
    }

    @Test
    void theScrubReportsABlobWhoseReplicaIsDamagedToo() throws Exception {
        tenantWithBuild(Tier.PRO);
        upload("rootfs.img", 20_000);
        replication().drain();
        for (Path root : List.of(dataRoot, replicaRoot)) {
            try (RandomAccessFile raw = new RandomAccessFile(root.resolve("tenants/acme/builds/b1/rootfs/rootfs.img").toFile(), "rw")) {
                raw.seek(10);
                raw.write(0xff);
                raw.write(0xfe);
            }
        }

        IntegrityScrub.Status pass = storage.scrub().runPassIfIdle();

        assertThat(pass.repaired()).isZero();
        assertThat(pass.findings()).singleElement().satisfies(finding -> assertThat(finding.problem())
                .contains("the copy in the replica is damaged too"));
    }
}
