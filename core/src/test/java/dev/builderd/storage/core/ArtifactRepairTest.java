package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.core.metadata.BuildRows;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.QuotaRows;
import dev.builderd.storage.core.model.ArtifactInfo;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import dev.builderd.storage.core.quota.Category;
import dev.builderd.storage.core.quota.Reservation;
import dev.builderd.storage.testing.ForwardingBlobStore;
import dev.builderd.storage.testing.MovableClock;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each state a process killed between an upload's or a delete's steps leaves behind (found by
 * the kill -9 harness, server/.../crash/CrashHarness), set up by hand, and its repair.
 */
class ArtifactRepairTest {

    private static final Principal ADMIN = new Principal.Admin();
    private static final TenantId ACME = TenantId.of("acme");
    private static final BuildRef B1 = new BuildRef(ACME, BuildId.of("b1"));
    private static final FileName IMAGE = FileName.of("a.img");
    private static final BlobKey IMAGE_KEY = BlobKey.of("tenants/acme/builds/b1/rootfs/a.img");
    private static final BlobKey CHECKSUMS_KEY = BlobKey.of("tenants/acme/builds/b1/rootfs/checksums.sha256");

    @TempDir
    Path dataRoot;
    private MetadataStore metadata;
    private FileBlobStore files;
    private BuilderdStorage storage;
    private ArtifactRepair repair;

    @BeforeEach
    void open() throws IOException {
        metadata = MetadataStore.open(MetadataLocation.sqlite(dataRoot.resolve("metadata/builderd.db")));
        files = new FileBlobStore(dataRoot);
        // The storage's own background repair runs on a clock long past: every blob is too recent for it.
        storage = new BuilderdStorage(CoreConfig.defaults(Layout.under(dataRoot)), metadata, Stores.single(files),
                "admin-token-for-tests", new MovableClock());
        storage.tenants().put(ADMIN, ACME, Tier.PRO, null);
        storage.builds().create(ADMIN, ACME, Optional.of(B1.build()), null);
        // This one's clock is past the settle margin of every blob the test writes.
        repair = new ArtifactRepair(metadata, Stores.single(files), Layout.under(dataRoot), storage.quotas(), new BuildActivity(metadata, "repair-test-node"),
                storage.artifacts(), Clock.offset(Clock.systemUTC(), Duration.ofMinutes(1)));
    }

    @AfterEach
    void close() {
        storage.close();
        metadata.close();
    }

    private ArtifactInfo upload(byte[] content) {
        return storage.artifacts().upload(ADMIN, B1, IMAGE, new ByteArrayInputStream(content), content.length, null);
    }

    private void landWithoutCommit(BlobKey key, byte[] content) throws IOException {
        files.put(key, new ByteArrayInputStream(content), content.length, WriteMode.OVERWRITE);
    }

    private long artifactBytes() {
        return metadata.read(h -> QuotaRows.ledger(h, ACME)).get(Category.ARTIFACTS).used();
    }

    private String stored(BlobKey key) throws IOException {
        try (InputStream in = files.open(key, ByteRange.ALL)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private List<String> keysUnder(String prefix) throws IOException {
        List<String> keys = new ArrayList<>();
        for (Iterator<BlobInfo> blobs = files.list(prefix, null); blobs.hasNext(); ) {
            keys.add(blobs.next().key().value());
        }
        return keys;
    }

    @Test
    void anUploadThatLandedButWasNeverCommittedIsDeleted() throws IOException {
        landWithoutCommit(IMAGE_KEY, new byte[700]);

        assertThat(repair.repair(ACME, true)).isEqualTo(OptionalInt.of(1));

        assertThat(files.stat(IMAGE_KEY)).isEmpty();
        assertThat(storage.artifacts().list(ADMIN, B1)).isEmpty();
        assertThat(artifactBytes()).isZero();
    }

    @Test
    void aReplacementThatLandedButWasNeverCommittedIsRecordedWithItsDigest() throws IOException {
        upload(new byte[500]);
        byte[] replacement = "the replacement, whole".getBytes(StandardCharsets.UTF_8);
        landWithoutCommit(IMAGE_KEY, replacement);

        repair.repair(ACME, true);

        ArtifactInfo recorded = storage.artifacts().describe(ADMIN, B1, IMAGE).info();
        String sha256 = sha256(replacement);
        assertThat(recorded.size()).isEqualTo(replacement.length);
        assertThat(recorded.sha256()).isEqualTo(sha256);
        assertThat(artifactBytes()).isEqualTo(replacement.length);
        assertThat(stored(CHECKSUMS_KEY)).isEqualTo(sha256 + "  a.img\n");
    }

    @Test
    void anUnchangedBlobNewerThanItsRowIsHashedOnceAndKeepsItsDigest() throws IOException {
        // The storage's clock is behind the files' times, as a node's clock behind an object store's would be.
        ArtifactInfo image = upload(new byte[500]);
        java.util.concurrent.atomic.AtomicInteger hashed = new java.util.concurrent.atomic.AtomicInteger();
        ForwardingBlobStore counting = new ForwardingBlobStore(files) {
            @Override
            public InputStream open(BlobKey key, ByteRange range) throws IOException {
                if (key.equals(IMAGE_KEY)) {
                    hashed.incrementAndGet();
                }
                return super.open(key, range);
            }
        };
        repair = new ArtifactRepair(metadata, Stores.single(counting), Layout.under(dataRoot), storage.quotas(), new BuildActivity(metadata, "repair-test-node"),
                storage.artifacts(), Clock.offset(Clock.systemUTC(), Duration.ofMinutes(1)));

        assertThat(repair.repair(ACME, true)).isEqualTo(OptionalInt.of(0));
        assertThat(repair.repair(ACME, true)).isEqualTo(OptionalInt.of(0));

        assertThat(hashed).as("hashed in the first round only: the row took the blob's time (in whole milliseconds)").hasValue(1);
        ArtifactInfo after = storage.artifacts().describe(ADMIN, B1, IMAGE).info();
        assertThat(after.sha256()).isEqualTo(image.sha256());
        assertThat(artifactBytes()).isEqualTo(500);
    }

    @Test
    void aRowWhoseBlobIsGoneIsDroppedWithItsBytes() throws IOException {
        upload(new byte[500]);
        files.delete(IMAGE_KEY);

        repair.repair(ACME, true);

        assertThat(storage.artifacts().list(ADMIN, B1)).isEmpty();
        assertThat(artifactBytes()).isZero();
        assertThat(stored(CHECKSUMS_KEY)).isEmpty();
    }

    @Test
    void aManifestLeftOutOfStepIsWrittenAgain() throws IOException {
        ArtifactInfo image = upload(new byte[500]);
        landWithoutCommit(CHECKSUMS_KEY, new byte[0]);

        assertThat(repair.repair(ACME, true)).isEqualTo(OptionalInt.of(1));

        assertThat(stored(CHECKSUMS_KEY)).isEqualTo(image.sha256() + "  a.img\n");
        assertThat(repair.repair(ACME, true)).as("nothing left to repair").isEqualTo(OptionalInt.of(0));
    }

    @Test
    void theFilesOfABuildWhoseDeleteWasInterruptedAreErased() throws IOException {
        upload(new byte[500]);
        storage.logs().put(ADMIN, B1, FileName.of("build.log"), new ByteArrayInputStream(new byte[30]), 30);
        // A delete removes the rows first; the process died before the files went.
        metadata.inTransaction(h -> BuildRows.delete(h, B1));

        repair.repair(ACME, true);

        assertThat(keysUnder("tenants/acme/builds/")).isEmpty();
    }

    @Test
    void aTenantWithArtifactWritesInFlightIsLeftForTheNextRound() throws IOException {
        landWithoutCommit(IMAGE_KEY, new byte[700]);
        try (Reservation inFlight = storage.quotas().reserve(ACME, Category.ARTIFACTS, 700)) {
            assertThat(repair.repair(ACME, true)).isEmpty();
            assertThat(files.stat(IMAGE_KEY)).isPresent();
        }
        assertThat(repair.repair(ACME, true)).isEqualTo(OptionalInt.of(1));
        assertThat(files.stat(IMAGE_KEY)).isEmpty();
    }

    private static String sha256(byte[] bytes) throws IOException {
        try {
            return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IOException("every JDK has SHA-256", e);
        }
    }
}
