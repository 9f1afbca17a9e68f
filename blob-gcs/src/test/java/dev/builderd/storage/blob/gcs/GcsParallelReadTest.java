package dev.builderd.storage.blob.gcs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.cloud.ReadChannel;
import com.google.cloud.storage.BlobId;
import com.google.cloud.storage.Storage;
import com.google.cloud.storage.contrib.nio.testing.LocalStorageHelper;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.ParallelIo;
import dev.builderd.storage.blob.RemoteTimeouts;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.testing.RangeReads;
import dev.builderd.storage.testing.SeededBytes;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Large reads as parallel ranged reads pinned to the object's generation, on the SDK's
 * <b>in-process fake</b> (LocalStorageHelper; see {@link GcsInProcessFakeContractTest} for what it
 * does not check). 5 MiB parts, 2 workers.
 */
@DisplayName("GCS parallel reads on the SDK's in-process fake (LocalStorageHelper), NOT a GCS server")
@Timeout(120)
class GcsParallelReadTest {

    private static final int MIB = 1 << 20;
    private static final int SIZE = 41 * MIB + 3; // nine parts
    private static final long SEED = 43;
    private static final byte[] DATA = SeededBytes.array(SEED, SIZE);

    private Storage storage;
    private GcsBlobStore store;

    @BeforeEach
    void setUp() {
        storage = LocalStorageHelper.getOptions().getService();
        GcsSettings settings = new GcsSettings("fake-bucket", Optional.empty(), Optional.empty(), Optional.empty(),
                new ParallelIo(2, ParallelIo.MIN_PART_SIZE, 64 * 1024), RemoteTimeouts.defaults(), Optional.empty());
        store = GcsBlobStore.using(storage, settings);
    }

    @AfterEach
    void tearDown() throws Exception {
        store.close();
    }

    @Test
    void randomParallelRangesAreByteExact() throws Exception {
        BlobKey key = BlobKey.of("parallel/blob");
        store.put(key, new ByteArrayInputStream(DATA), SIZE, WriteMode.OVERWRITE);
        long seed = System.nanoTime();
        RangeReads.assertEveryRangeReadsExactly(store, key, DATA, 5 * MIB, seed, 6);
    }

    @Test
    void aBlobReplacedDuringAParallelReadFailsTheReadInsteadOfMixingVersions() throws Exception {
        BlobKey key = BlobKey.of("replaced/blob");
        store.put(key, new ByteArrayInputStream(DATA), SIZE, WriteMode.OVERWRITE);
        long before = storage.get("fake-bucket", key.value()).getGeneration();
        try (InputStream in = store.open(key, ByteRange.ALL)) {
            assertThat(in.readNBytes(1000)).isEqualTo(Arrays.copyOf(DATA, 1000));
            store.put(key, SeededBytes.stream(SEED + 1, SIZE), SIZE, WriteMode.OVERWRITE);
            Assumptions.assumeTrue(honoursGenerationMatchOnReads(key.value(), before),
                    "the in-process fake (LocalStorageHelper) ignores ifGenerationMatch on reads (a read of a replaced"
                            + " object's old generation succeeds there), so it cannot show a replaced blob failing the read;"
                            + " GCS answers 412, which GcsBlobStore turns into 'replaced or deleted while it was being read'");
            // Two parts are fetched ahead at most; the fourth and later are fetched after the replacement.
            assertThatThrownBy(in::readAllBytes)
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining(key.value())
                    .hasMessageContaining("replaced or deleted while it was being read");
        }
        try (InputStream in = store.open(key, ByteRange.ALL)) {
            assertThat(SeededBytes.sha256(in)).isEqualTo(SeededBytes.sha256(SEED + 1, SIZE));
        }
    }

    /** Whether a read with {@code ifGenerationMatch} of a generation that is no longer current fails. */
    private boolean honoursGenerationMatchOnReads(String name, long staleGeneration) {
        try (ReadChannel reader = storage.reader(BlobId.of("fake-bucket", name, staleGeneration),
                Storage.BlobSourceOption.generationMatch(staleGeneration))) {
            reader.read(ByteBuffer.allocate(16));
            return false;
        } catch (IOException | RuntimeException e) {
            return true;
        }
    }

    @Test
    void aBlobDeletedDuringAParallelReadFailsTheRead() throws Exception {
        BlobKey key = BlobKey.of("deleted/blob");
        store.put(key, new ByteArrayInputStream(DATA), SIZE, WriteMode.OVERWRITE);
        try (InputStream in = store.open(key, ByteRange.ALL)) {
            in.readNBytes(10);
            assertThat(store.delete(key)).isTrue();
            assertThatThrownBy(in::readAllBytes)
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining(key.value())
                    .hasMessageContaining("replaced or deleted while it was being read");
        }
    }

    @Test
    void closingParallelReadsEarlyReleasesEverything() throws Exception {
        BlobKey key = BlobKey.of("early/blob");
        store.put(key, new ByteArrayInputStream(DATA), SIZE, WriteMode.OVERWRITE);
        long started = System.nanoTime();
        for (int i = 0; i < 10; i++) {
            try (InputStream unread = store.open(key, ByteRange.ALL); InputStream partRead = store.open(key, ByteRange.ALL)) {
                assertThat(partRead.readNBytes(7 * MIB + i)).isEqualTo(Arrays.copyOf(DATA, 7 * MIB + i));
            }
        }
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(60));
        try (InputStream in = store.open(key, new ByteRange(MIB, 12L * MIB))) {
            assertThat(Arrays.equals(in.readAllBytes(), Arrays.copyOfRange(DATA, MIB, 13 * MIB))).isTrue();
        }
    }
}
