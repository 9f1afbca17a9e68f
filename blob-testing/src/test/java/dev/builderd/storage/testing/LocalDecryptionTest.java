package dev.builderd.storage.testing;

import static dev.builderd.storage.blob.EncryptingBlobStore.CIPHERTEXT_SEGMENT_SIZE;
import static dev.builderd.storage.blob.EncryptingBlobStore.ENVELOPE_SIZE;
import static dev.builderd.storage.blob.EncryptingBlobStore.HEADER_SIZE;
import static dev.builderd.storage.blob.EncryptingBlobStore.PLAINTEXT_SEGMENT_SIZE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.crypto.tink.InsecureSecretKeyAccess;
import com.google.crypto.tink.KeysetHandle;
import com.google.crypto.tink.RegistryConfiguration;
import com.google.crypto.tink.StreamingAead;
import com.google.crypto.tink.TinkJsonProtoKeysetFormat;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BufferStream;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.DataKeyring;
import dev.builderd.storage.blob.DataKeys;
import dev.builderd.storage.blob.EncryptingBlobStore;
import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.blob.IntegrityViolationException;
import dev.builderd.storage.blob.MemoryBlobStore;
import dev.builderd.storage.blob.WriteMode;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Large reads of a local encrypted blob go through the store's own segment decrypter
 * ({@code DecryptingBufferStream}), not Tink's channels: its output must be byte-for-byte what
 * Tink decrypts, for every size and range, and every damage Tink refuses it must refuse too.
 */
class LocalDecryptionTest {

    private static final int MIB = 1 << 20;
    private static final KeysetHandle KEYSET = EncryptingBlobStoreTest.newKeyset();
    private static final DataKeyring KEYRING = EncryptingBlobStoreTest.keyring(SeededBytes.array(1, DataKeyring.MARKER_SIZE), KEYSET, false);
    private static final BlobKey KEY = BlobKey.of("tenants/acme/builds/b1/rootfs/filesystem.ext4");
    /** Where the first plaintext byte of segment {@code k} is, for k >= 1. */
    private static final int FIRST = PLAINTEXT_SEGMENT_SIZE - HEADER_SIZE;

    @TempDir
    Path temp;

    private FileBlobStore files;
    private EncryptingBlobStore store;
    private final AtomicInteger integrityFailures = new AtomicInteger();

    @BeforeEach
    void stores() throws IOException {
        files = new FileBlobStore(temp.resolve("store"));
        store = new EncryptingBlobStore(files, key -> Optional.of(KEYRING), key -> integrityFailures.incrementAndGet());
    }

    private static long segmentStart(long segment) {
        return segment == 0 ? 0 : segment * PLAINTEXT_SEGMENT_SIZE - HEADER_SIZE;
    }

    /** Every byte of {@code range} through {@link EncryptingBlobStore#openBuffers}, checking that no buffer is empty. */
    static byte[] viaBuffers(EncryptingBlobStore store, BlobKey key, ByteRange range, ByteArrayOutputStream got) throws IOException {
        try (BufferStream buffers = store.openBuffers(key, range).orElseThrow()) {
            ByteBuffer buffer;
            while ((buffer = buffers.next()) != null) {
                assertThat(buffer.hasRemaining()).as("no empty buffer").isTrue();
                byte[] chunk = new byte[buffer.remaining()];
                buffer.get(chunk);
                got.write(chunk);
            }
        }
        return got.toByteArray();
    }

    private byte[] viaBuffers(ByteRange range) throws IOException {
        return viaBuffers(store, KEY, range, new ByteArrayOutputStream());
    }

    private byte[] viaStream(ByteRange range) throws IOException {
        try (InputStream in = store.open(KEY, range)) {
            return in.readAllBytes();
        }
    }

    private byte[] stored() throws IOException {
        try (InputStream in = files.open(KEY, ByteRange.ALL)) {
            return in.readAllBytes();
        }
    }

    private void replaceStored(byte[] bytes) throws IOException {
        files.put(KEY, new ByteArrayInputStream(bytes), bytes.length, WriteMode.OVERWRITE);
    }

    /** Tink's own decryption of a stored blob (envelope stripped), the reference. */
    static byte[] viaTink(KeysetHandle keyset, byte[] stored, BlobKey key) throws IOException, GeneralSecurityException {
        StreamingAead aead = keyset.getPrimitive(RegistryConfiguration.get(), StreamingAead.class);
        InputStream ciphertext = new ByteArrayInputStream(stored, ENVELOPE_SIZE, stored.length - ENVELOPE_SIZE);
        try (InputStream plaintext = aead.newDecryptingStream(ciphertext, key.value().getBytes(StandardCharsets.UTF_8))) {
            return plaintext.readAllBytes();
        }
    }

    // ---------------------------------------------------------------- the same bytes as Tink

    /** Sizes at the edges of the first segment, of later segments and of the decrypter's 4-segment buffers, and random ones. */
    private static List<Integer> sizes(SplittableRandom random) {
        List<Integer> sizes = new ArrayList<>(List.of(0, 1, 2, FIRST - 1, FIRST, FIRST + 1));
        for (int segments : new int[] {2, 3, 4, 5, 8, 9}) {
            int boundary = segments * PLAINTEXT_SEGMENT_SIZE - HEADER_SIZE;
            sizes.addAll(List.of(boundary - 1, boundary, boundary + 1));
        }
        for (int i = 0; i < 8; i++) {
            sizes.add(random.nextInt(6 * MIB));
        }
        return sizes;
    }

    @Test
    void everySizeAndRangeDecryptsToWhatTinkDecrypts() throws Exception {
        long seed = System.nanoTime();
        System.out.println("LocalDecryptionTest seed: " + seed);
        SplittableRandom random = new SplittableRandom(seed);
        for (int size : sizes(random)) {
            byte[] plaintext = new byte[size];
            random.nextBytes(plaintext);
            store.put(KEY, new ByteArrayInputStream(plaintext), size, WriteMode.OVERWRITE);

            String what = "size " + size + ", seed " + seed;
            assertThat(viaTink(KEYSET, stored(), KEY)).as("Tink, %s", what).isEqualTo(plaintext);
            assertThat(viaBuffers(ByteRange.ALL)).as("buffers, %s", what).isEqualTo(plaintext);
            assertThat(viaStream(ByteRange.ALL)).as("stream, %s", what).isEqualTo(plaintext);
            for (int i = 0; i < 12; i++) {
                int offset = random.nextInt(size + 2);
                int length = i % 3 == 0 ? random.nextInt(3 * MIB) : random.nextInt(Math.max(1, size - offset + 2));
                ByteRange range = new ByteRange(offset, length);
                byte[] expected = Arrays.copyOfRange(plaintext, Math.min(offset, size), (int) Math.min(size, (long) offset + length));
                assertThat(viaBuffers(range)).as("buffers, %s, %s", range, what).isEqualTo(expected);
                assertThat(viaStream(range)).as("stream, %s, %s", range, what).isEqualTo(expected);
            }
        }
        assertThat(integrityFailures).hasValue(0);
    }

    @Test
    void aLargeBlobDecryptsToItsDigest() throws IOException {
        long size = 40L * MIB + 12345;
        store.put(KEY, SeededBytes.stream(5, size), size, WriteMode.OVERWRITE);

        try (InputStream in = store.open(KEY, ByteRange.ALL)) {
            assertThat(SeededBytes.sha256(in)).isEqualTo(SeededBytes.sha256(5, size));
        }
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        viaBuffers(store, KEY, ByteRange.ALL, got);
        assertThat(SeededBytes.sha256(got.toByteArray())).isEqualTo(SeededBytes.sha256(5, size));
    }

    /** A range decrypts its own segments only: every other segment may be garbage. */
    @Test
    void aRangeDecryptsOnlyTheSegmentsItTouches() throws IOException {
        byte[] plaintext = SeededBytes.array(3, 5 * MIB);
        store.put(KEY, new ByteArrayInputStream(plaintext), plaintext.length, WriteMode.OVERWRITE);
        byte[] bytes = stored();
        long offset = segmentStart(7) - 10;
        ByteRange range = new ByteRange(offset, MIB);
        long firstSegment = 6;
        long lastSegment = (offset + MIB - 1 + HEADER_SIZE) / PLAINTEXT_SEGMENT_SIZE;
        for (long s = 1; s < bytes.length / CIPHERTEXT_SEGMENT_SIZE; s++) {
            if (s < firstSegment || s > lastSegment) {
                int at = (int) (ENVELOPE_SIZE + s * CIPHERTEXT_SEGMENT_SIZE);
                Arrays.fill(bytes, at, Math.min(bytes.length, at + CIPHERTEXT_SEGMENT_SIZE), (byte) 0x5a);
            }
        }
        replaceStored(bytes);

        byte[] expected = Arrays.copyOfRange(plaintext, (int) offset, (int) offset + MIB);
        assertThat(viaBuffers(range)).isEqualTo(expected);
        assertThat(viaStream(range)).isEqualTo(expected);
    }

    /** Written by the code before this reader existed (Tink's stream; see the fixture's README): still readable, by both paths. */
    @Test
    void aBlobWrittenBeforeTheBufferReaderStillReads() throws Exception {
        String dir = "/encrypted-before-buffers/";
        KeysetHandle keyset = TinkJsonProtoKeysetFormat.parseKeyset(resource(dir + "keyset.json"), InsecureSecretKeyAccess.get());
        byte[] marker;
        byte[] fixture;
        try (InputStream in = getClass().getResourceAsStream(dir + "marker.bin")) {
            marker = in.readAllBytes();
        }
        try (InputStream in = getClass().getResourceAsStream(dir + "fixture.bin")) {
            fixture = in.readAllBytes();
        }
        BlobKey key = BlobKey.of("tenants/acme/builds/b1/rootfs/fixture.bin");
        files.put(key, new ByteArrayInputStream(fixture), fixture.length, WriteMode.CREATE_NEW);
        DataKeyring keyring = EncryptingBlobStoreTest.keyring(marker, keyset, false);
        EncryptingBlobStore old = new EncryptingBlobStore(files, k -> Optional.of(keyring));
        String sha = resource(dir + "plaintext.sha256").strip();

        assertThat(SeededBytes.sha256(viaTink(keyset, fixture, key))).isEqualTo(sha);
        assertThat(SeededBytes.sha256(viaBuffers(old, key, ByteRange.ALL, new ByteArrayOutputStream()))).isEqualTo(sha);
        try (InputStream in = old.open(key, ByteRange.ALL)) {
            assertThat(SeededBytes.sha256(in)).isEqualTo(sha);
        }
    }

    private String resource(String name) throws IOException {
        try (InputStream in = getClass().getResourceAsStream(name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void anOwnerWithoutKeysOrAStoreWithoutFilesGetsNoBuffers() throws IOException {
        DataKeys none = key -> Optional.empty();
        assertThat(new EncryptingBlobStore(files, none).openBuffers(KEY, ByteRange.ALL)).isEmpty();
        EncryptingBlobStore memory = new EncryptingBlobStore(new MemoryBlobStore(), key -> Optional.of(KEYRING));
        memory.put(KEY, new ByteArrayInputStream(new byte[10]), 10, WriteMode.CREATE_NEW);
        assertThat(memory.openBuffers(KEY, ByteRange.ALL)).isEmpty();
    }

    // ---------------------------------------------------------------- damage

    /** Damaged, truncated, moved or foreign ciphertext never decrypts through the buffer path either. */
    @Nested
    class Tampering {
        /** Thirteen ciphertext segments, the last one partial. */
        private static final int SIZE = 3 * MIB + 1000;
        private byte[] plaintext;

        @BeforeEach
        void storeOneBlob() throws IOException {
            plaintext = SeededBytes.array(42, SIZE);
            store.put(KEY, new ByteArrayInputStream(plaintext), SIZE, WriteMode.CREATE_NEW);
        }

        private void flipByteAt(long position) throws IOException {
            byte[] bytes = stored();
            bytes[(int) position] ^= 0x01;
            replaceStored(bytes);
        }

        /** Both paths fail with an integrity violation, reported, and hand out only true plaintext before. */
        private void assertUnreadable(EncryptingBlobStore reader, BlobKey key, ByteRange range) {
            int before = integrityFailures.get();
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            assertThatThrownBy(() -> viaBuffers(reader, key, range, got)).as("buffers of %s", range)
                    .isInstanceOf(IntegrityViolationException.class).hasMessageContaining(key.value());
            EncryptingBlobStoreTest.assertTruePlaintext(plaintext, got.toByteArray(), range);
            ByteArrayOutputStream streamed = new ByteArrayOutputStream();
            assertThatThrownBy(() -> {
                try (InputStream in = reader.open(key, range)) {
                    in.transferTo(streamed);
                }
            }).as("stream of %s", range).isInstanceOf(IntegrityViolationException.class).hasMessageContaining(key.value());
            EncryptingBlobStoreTest.assertTruePlaintext(plaintext, streamed.toByteArray(), range);
            if (reader == store) {
                assertThat(integrityFailures.get() - before).as("failures reported").isEqualTo(2);
            }
        }

        /** The whole blob and {@code range} of it are unreadable. */
        private void assertUnreadable(ByteRange range) {
            for (ByteRange read : List.of(ByteRange.ALL, range)) {
                assertUnreadable(store, KEY, read);
            }
        }

        @ParameterizedTest(name = "header byte {0}")
        @ValueSource(ints = {0, 1, 20, 32, 33, HEADER_SIZE - 1})
        void aFlippedHeaderByteIsAnIntegrityViolation(int position) throws IOException {
            flipByteAt(ENVELOPE_SIZE + position);

            assertUnreadable(new ByteRange(segmentStart(2) + 10, 2 * MIB));
        }

        @ParameterizedTest(name = "envelope byte {0}")
        @ValueSource(ints = {0, DataKeyring.MARKER_SIZE - 1, DataKeyring.MARKER_SIZE, ENVELOPE_SIZE - 1})
        void aFlippedMarkerOrKeyIdByteIsAnIntegrityViolation(int position) throws IOException {
            flipByteAt(position);

            assertUnreadable(new ByteRange(segmentStart(2) + 10, 2 * MIB));
        }

        @ParameterizedTest(name = "segment {0}")
        @ValueSource(ints = {0, 1, 4, 7})
        void aFlippedByteInAMiddleSegmentIsAnIntegrityViolation(int segment) throws IOException {
            flipByteAt(ENVELOPE_SIZE + (long) segment * CIPHERTEXT_SEGMENT_SIZE + HEADER_SIZE + 12345);

            assertUnreadable(new ByteRange(segmentStart(segment) + 100, 2 * MIB));
            long after = segmentStart(segment + 1);
            assertThat(viaBuffers(new ByteRange(after, SIZE))).as("the segments after it still read")
                    .isEqualTo(Arrays.copyOfRange(plaintext, (int) after, SIZE));
        }

        @ParameterizedTest(name = "{0} bytes from the end")
        @ValueSource(ints = {1, 16, 17, 900})
        void aFlippedByteInTheLastSegmentIsAnIntegrityViolation(int fromEnd) throws IOException {
            flipByteAt(EncryptingBlobStore.ciphertextLength(SIZE) - fromEnd);

            assertUnreadable(new ByteRange(SIZE - 2 * MIB, 2 * MIB));
        }

        @ParameterizedTest(name = "{0} bytes cut")
        @ValueSource(ints = {1, 15, 16, 17, 500, 1016, 1017})
        void aTruncatedTailIsAnIntegrityViolation(int cut) throws IOException {
            byte[] bytes = stored();
            replaceStored(Arrays.copyOf(bytes, bytes.length - cut));

            assertUnreadable(new ByteRange(SIZE - 2 * MIB, 2 * MIB));
        }

        @ParameterizedTest(name = "cut after {0} segments")
        @ValueSource(ints = {1, 4, 12})
        void aBlobCutAtASegmentBoundaryIsAnIntegrityViolation(int segments) throws IOException {
            replaceStored(Arrays.copyOf(stored(), ENVELOPE_SIZE + segments * CIPHERTEXT_SEGMENT_SIZE));

            // A range that reaches the new end: its last segment is now taken as the blob's last.
            long end = segmentStart(segments);
            assertUnreadable(new ByteRange(Math.max(0, end - 2 * MIB), 2 * MIB));
        }

        @ParameterizedTest(name = "cut to {0} bytes")
        @ValueSource(ints = {0, 5, ENVELOPE_SIZE, ENVELOPE_SIZE + 1, ENVELOPE_SIZE + HEADER_SIZE, ENVELOPE_SIZE + HEADER_SIZE + 15})
        void aBlobCutShortIsAnIntegrityViolation(int length) throws IOException {
            replaceStored(Arrays.copyOf(stored(), length));

            assertUnreadable(store, KEY, ByteRange.ALL);
        }

        @ParameterizedTest(name = "copied to {0}")
        @ValueSource(strings = {"tenants/acme/builds/b1/rootfs/other.ext4", "tenants/evil/builds/b1/rootfs/filesystem.ext4"})
        void aBlobCopiedToAnotherKeyOrTenantDoesNotDecrypt(String target) throws IOException {
            BlobKey copy = BlobKey.of(target);
            byte[] bytes = stored();
            files.put(copy, new ByteArrayInputStream(bytes), bytes.length, WriteMode.CREATE_NEW);

            assertUnreadable(store, copy, ByteRange.ALL);
            assertUnreadable(store, copy, new ByteRange(segmentStart(3) + 7, 2 * MIB));
        }

        @Test
        void anotherKeysetDoesNotDecrypt() {
            DataKeyring other = EncryptingBlobStoreTest.keyring(SeededBytes.array(1, DataKeyring.MARKER_SIZE),
                    EncryptingBlobStoreTest.newKeyset(), false);
            EncryptingBlobStore reader = new EncryptingBlobStore(files, key -> Optional.of(other));

            assertUnreadable(reader, KEY, ByteRange.ALL);
        }

        @Test
        void anUntouchedBlobStillReads() throws IOException {
            assertThat(viaBuffers(ByteRange.ALL)).isEqualTo(plaintext);
            assertThat(integrityFailures).hasValue(0);
        }
    }

    /** Closing a stream half-way stops its decrypter; the next reads (reusing its buffers) are still right. */
    @Test
    void aStreamClosedHalfWayLeavesLaterReadsIntact() throws IOException {
        byte[] plaintext = SeededBytes.array(8, 9 * MIB);
        store.put(KEY, new ByteArrayInputStream(plaintext), plaintext.length, WriteMode.OVERWRITE);
        for (int i = 0; i < 20; i++) {
            try (BufferStream buffers = store.openBuffers(KEY, ByteRange.ALL).orElseThrow()) {
                assertThat(buffers.next()).isNotNull();
            }
        }
        assertThat(viaBuffers(ByteRange.ALL)).isEqualTo(plaintext);
        assertThat(Files.exists(temp)).isTrue();
    }
}
