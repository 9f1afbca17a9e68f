package dev.builderd.storage.testing;

import static dev.builderd.storage.blob.EncryptingBlobStore.CIPHERTEXT_SEGMENT_SIZE;
import static dev.builderd.storage.blob.EncryptingBlobStore.ENVELOPE_SIZE;
import static dev.builderd.storage.blob.EncryptingBlobStore.HEADER_SIZE;
import static dev.builderd.storage.blob.EncryptingBlobStore.PLAINTEXT_SEGMENT_SIZE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.crypto.tink.KeysetHandle;
import com.google.crypto.tink.streamingaead.StreamingAeadConfig;
import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobStore;
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
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class EncryptingBlobStoreTest {

    private static final int MIB = 1 << 20;
    private static final byte[] MARKER = SeededBytes.array(1, DataKeyring.MARKER_SIZE);
    private static final KeysetHandle KEYSET = newKeyset();
    private static final DataKeyring KEYRING = keyring(MARKER, KEYSET, false);
    private static final DataKeys KEYS = key -> Optional.of(KEYRING);
    /** Another owner's keys: another marker and keyset. */
    private static final DataKeys OTHER_KEYS =
            key -> Optional.of(keyring(SeededBytes.array(2, DataKeyring.MARKER_SIZE), newKeyset(), false));

    static KeysetHandle newKeyset() {
        try {
            StreamingAeadConfig.register();
            return KeysetHandle.newBuilder()
                    .addEntry(KeysetHandle.generateEntryFromParameters(EncryptingBlobStore.KEY_PARAMETERS).withRandomId().makePrimary())
                    .build();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    static DataKeyring keyring(byte[] marker, KeysetHandle keyset, boolean acceptsPlaintext) {
        try {
            return new DataKeyring(marker, keyset, acceptsPlaintext);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }

    /** {@code keyset} with a new primary key added. */
    static KeysetHandle rotated(KeysetHandle keyset) throws GeneralSecurityException {
        return KeysetHandle.newBuilder(keyset)
                .addEntry(KeysetHandle.generateEntryFromParameters(EncryptingBlobStore.KEY_PARAMETERS).withRandomId().makePrimary())
                .build();
    }

    /** What a read of {@code range} returned before it failed is the start of that range of {@code plaintext}. */
    static void assertTruePlaintext(byte[] plaintext, byte[] returned, ByteRange range) {
        int from = (int) range.offset();
        assertThat(returned).as("bytes returned before the failure are true plaintext")
                .isEqualTo(Arrays.copyOfRange(plaintext, from, from + returned.length));
    }

    /** The wrapper keeps the whole contract over the memory store. */
    @Nested
    class OnMemory extends BlobStoreContract {
        @Override
        protected BlobStore newStore() {
            return new EncryptingBlobStore(new MemoryBlobStore(), KEYS);
        }
    }

    /** The wrapper keeps the whole contract over the filesystem store. */
    @Nested
    class OnFiles extends BlobStoreContract {
        @TempDir
        Path temp;

        private Path root;

        @Override
        protected BlobStore newStore() throws Exception {
            root = temp.resolve("store");
            return new EncryptingBlobStore(new FileBlobStore(root), KEYS);
        }

        @Override
        protected List<String> leftovers() throws IOException {
            if (!Files.exists(root)) {
                return List.of();
            }
            try (Stream<Path> files = Files.walk(root)) {
                return files.filter(file -> file.getFileName().toString().startsWith(".~builderd-"))
                        .map(file -> root.relativize(file).toString())
                        .toList();
            }
        }
    }

    /** Damaged, truncated, moved or foreign ciphertext never decrypts. */
    @Nested
    class Tampering {
        // ---------------------------------------------------------------- tampering

        private static final BlobKey KEY = BlobKey.of("tenants/acme/builds/b1/rootfs/filesystem.ext4");
        /** Thirteen ciphertext segments, the last one partial. */
        private static final int SIZE = 3 * MIB + 1000;
        private static final int LAST_SEGMENT = 12;

        private MemoryBlobStore raw;
        private EncryptingBlobStore store;
        private byte[] plaintext;

        @BeforeEach
        void storeOneBlob() throws IOException {
            raw = new MemoryBlobStore();
            store = new EncryptingBlobStore(raw, KEYS);
            plaintext = new byte[SIZE];
            new Random(42).nextBytes(plaintext);
            store.put(KEY, new ByteArrayInputStream(plaintext), SIZE, WriteMode.CREATE_NEW);
        }

        private byte[] ciphertext(BlobKey key) throws IOException {
            try (InputStream in = raw.open(key, ByteRange.ALL)) {
                return in.readAllBytes();
            }
        }

        private void replaceCiphertext(BlobKey key, byte[] bytes) throws IOException {
            raw.put(key, new ByteArrayInputStream(bytes), bytes.length, WriteMode.OVERWRITE);
        }

        private void flipByteAt(long position) throws IOException {
            byte[] bytes = ciphertext(KEY);
            bytes[(int) position] ^= 0x01;
            replaceCiphertext(KEY, bytes);
        }

        /** Plaintext offset of the first byte of segment {@code segment}. */
        private static long segmentStart(int segment) {
            return segment == 0 ? 0 : (long) segment * PLAINTEXT_SEGMENT_SIZE - HEADER_SIZE;
        }

        /**
         * Reading {@code range} of {@code key} fails with an integrity violation, and every byte handed
         * out before the failure is the true plaintext.
         */
        private void assertUnreadable(EncryptingBlobStore reader, BlobKey key, ByteRange range) {
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            assertThatThrownBy(() -> {
                try (InputStream in = reader.open(key, range)) {
                    byte[] buffer = new byte[8192];
                    int n;
                    while ((n = in.read(buffer)) >= 0) {
                        got.write(buffer, 0, n);
                    }
                }
            }).as("reading %s of %s", range, key)
                    .isInstanceOf(IntegrityViolationException.class)
                    .hasMessageContaining(key.value());
            assertTruePlaintext(plaintext, got.toByteArray(), range);
        }

        private void assertUnreadable(ByteRange range) {
            assertUnreadable(store, KEY, ByteRange.ALL);
            assertUnreadable(store, KEY, range);
        }

        @ParameterizedTest(name = "header byte {0}")
        @ValueSource(ints = {0, 1, 20, HEADER_SIZE - 1})
        void aFlippedHeaderByteIsAnIntegrityViolation(int position) throws IOException {
            flipByteAt(ENVELOPE_SIZE + position);

            assertUnreadable(new ByteRange(segmentStart(2) + 10, 1000));
            assertUnreadable(new ByteRange(0, 10));
        }

        @ParameterizedTest(name = "envelope byte {0}")
        @ValueSource(ints = {0, DataKeyring.MARKER_SIZE - 1, DataKeyring.MARKER_SIZE, ENVELOPE_SIZE - 1})
        void aFlippedMarkerOrKeyIdByteIsAnIntegrityViolation(int position) throws IOException {
            flipByteAt(position);

            assertUnreadable(new ByteRange(segmentStart(2) + 10, 1000));
            assertUnreadable(new ByteRange(0, 10));
        }

        @Test
        void aFlippedByteInAMiddleSegmentIsAnIntegrityViolation() throws IOException {
            flipByteAt(ENVELOPE_SIZE + CIPHERTEXT_SEGMENT_SIZE + 12345);

            assertUnreadable(new ByteRange(segmentStart(1) + 100, 1000));
            assertThat(readRange(new ByteRange(segmentStart(2) + 5, 1000))).as("other segments still read")
                    .isEqualTo(Arrays.copyOfRange(plaintext, (int) segmentStart(2) + 5, (int) segmentStart(2) + 1005));
        }

        @Test
        void aFlippedByteInTheLastSegmentIsAnIntegrityViolation() throws IOException {
            flipByteAt(EncryptingBlobStore.ciphertextLength(SIZE) - 3);

            assertUnreadable(new ByteRange(SIZE - 100, 100));
        }

        @ParameterizedTest(name = "{0} bytes cut")
        @ValueSource(ints = {1, 16, 17, 500})
        void aTruncatedTailIsAnIntegrityViolation(int cut) throws IOException {
            byte[] bytes = ciphertext(KEY);
            replaceCiphertext(KEY, Arrays.copyOf(bytes, bytes.length - cut));

            long size = store.stat(KEY).orElseThrow().size();
            assertUnreadable(new ByteRange(segmentStart(LAST_SEGMENT), 10));
            if (size > 0) {
                assertUnreadable(store, KEY, new ByteRange(size - 1, 1));
            }
        }

        @Test
        void aBlobCutAtASegmentBoundaryIsAnIntegrityViolation() throws IOException {
            byte[] bytes = ciphertext(KEY);
            replaceCiphertext(KEY, Arrays.copyOf(bytes, ENVELOPE_SIZE + 3 * CIPHERTEXT_SEGMENT_SIZE));

            assertThat(store.stat(KEY)).get().extracting(BlobInfo::size).isEqualTo(segmentStart(3));
            assertUnreadable(new ByteRange(segmentStart(3) - 10, 10));
        }

        @ParameterizedTest(name = "copied to {0}")
        @ValueSource(strings = {
            "tenants/acme/builds/b1/rootfs/other.ext4",
            "tenants/acme/builds/b2/rootfs/filesystem.ext4",
            "tenants/evil/builds/b1/rootfs/filesystem.ext4"})
        void aBlobCopiedToAnotherKeyOrTenantDoesNotDecrypt(String target) throws IOException {
            BlobKey copy = BlobKey.of(target);
            replaceCiphertext(copy, ciphertext(KEY));

            assertUnreadable(store, copy, ByteRange.ALL);
            assertUnreadable(store, copy, new ByteRange(segmentStart(1) + 7, 100));
            assertUnreadable(store, copy, new ByteRange(0, 100));
        }

        @Test
        void anotherKeysetDoesNotDecrypt() {
            EncryptingBlobStore other = new EncryptingBlobStore(raw, OTHER_KEYS);

            assertUnreadable(other, KEY, ByteRange.ALL);
            assertUnreadable(other, KEY, new ByteRange(segmentStart(2) + 1, 100));
        }

        @Test
        void anUntouchedBlobReadsWholeAndInRanges() throws IOException {
            assertThat(readRange(ByteRange.ALL)).isEqualTo(plaintext);
            for (long offset : new long[] {0, segmentStart(1) - 1, segmentStart(1), segmentStart(3) + 999, SIZE - 1}) {
                assertThat(readRange(new ByteRange(offset, 3000))).as("range at %d", offset)
                        .isEqualTo(Arrays.copyOfRange(plaintext, (int) offset, (int) Math.min(SIZE, offset + 3000)));
            }
            assertThat(readRange(new ByteRange(SIZE, 10))).isEmpty();
        }

        private byte[] readRange(ByteRange range) throws IOException {
            try (InputStream in = store.open(KEY, range)) {
                return in.readAllBytes();
            }
        }

        @Test
        void aRangeReadRacingAReplaceReadsTheNewVersion() throws IOException {
            byte[] replacement = SeededBytes.array(99, 2 * MIB + 7);
            AtomicLong opens = new AtomicLong();
            BlobStore racing = new CountingBlobStore(raw) {
                @Override
                public InputStream open(BlobKey key, ByteRange range) throws IOException {
                    if (opens.getAndIncrement() == 0) {
                        store.put(KEY, new ByteArrayInputStream(replacement), replacement.length, WriteMode.OVERWRITE);
                    }
                    return super.open(key, range);
                }
            };
            EncryptingBlobStore reader = new EncryptingBlobStore(racing, KEYS);
            long offset = segmentStart(1) + 3;

            byte[] got;
            try (InputStream in = reader.open(KEY, new ByteRange(offset, 5000))) {
                got = in.readAllBytes();
            }

            assertThat(got).isEqualTo(Arrays.copyOfRange(replacement, (int) offset, (int) offset + 5000));
        }

        @Test
        void aBackendFailureStaysABackendFailure() throws IOException {
            BlobStore failing = new CountingBlobStore(raw) {
                @Override
                public InputStream open(BlobKey key, ByteRange range) throws IOException {
                    return new FailingInputStream(super.open(key, range), 2 * MIB);
                }
            };
            EncryptingBlobStore reader = new EncryptingBlobStore(failing, KEYS);

            assertThatThrownBy(() -> {
                try (InputStream in = reader.open(KEY, ByteRange.ALL)) {
                    in.readAllBytes();
                }
            }).isNotInstanceOf(IntegrityViolationException.class).hasMessageContaining(FailingInputStream.MESSAGE);
        }
    }

    // ---------------------------------------------------------------- owners, plaintext and rotation

    /** Owners without keys, plaintext written before an owner had keys, and keys that change. */
    @Nested
    class OwnersAndKeys {
        private static final BlobKey PLAIN_KEY = BlobKey.of("tenants/plain/builds/b1/rootfs/app.tar");
        private static final BlobKey ACME_KEY = BlobKey.of("tenants/acme/builds/b1/rootfs/app.tar");

        @TempDir
        Path temp;

        private FileBlobStore raw;
        private byte[] content;
        private volatile DataKeyring acme;
        private EncryptingBlobStore store;

        @BeforeEach
        void setUp() throws IOException {
            raw = new FileBlobStore(temp.resolve("store"));
            content = SeededBytes.array(5, 700_000);
            acme = KEYRING;
            store = new EncryptingBlobStore(raw, key -> key.value().startsWith("tenants/acme/") ? Optional.of(acme) : Optional.empty());
        }

        private byte[] read(BlobStore from, BlobKey key, ByteRange range) throws IOException {
            try (InputStream in = from.open(key, range)) {
                return in.readAllBytes();
            }
        }

        private void putRaw(BlobKey key, byte[] bytes) throws IOException {
            raw.put(key, new ByteArrayInputStream(bytes), bytes.length, WriteMode.OVERWRITE);
        }

        @Test
        void anOwnerWithoutKeysIsStoredAsItIsWithTheDelegatesFileCapabilities() throws IOException {
            store.put(PLAIN_KEY, new ByteArrayInputStream(content), content.length, WriteMode.CREATE_NEW);

            assertThat(read(raw, PLAIN_KEY, ByteRange.ALL)).isEqualTo(content);
            assertThat(store.openChannel(PLAIN_KEY)).isPresent().get().satisfies(channel -> {
                assertThat(channel.size()).isEqualTo(content.length);
                channel.close();
            });
            Path file = Files.write(temp.resolve("adopt-me"), content);
            store.adopt(BlobKey.of("tenants/plain/builds/b1/rootfs/adopted"), file);
            assertThat(file).doesNotExist();
            assertThat(store.needsReencryption(PLAIN_KEY)).isFalse();
        }

        @Test
        void anEncryptedOwnerGetsNoRawFileAndNoRename() throws IOException {
            store.put(ACME_KEY, new ByteArrayInputStream(content), content.length, WriteMode.CREATE_NEW);

            assertThat(read(raw, ACME_KEY, ByteRange.ALL)).isNotEqualTo(content).hasSize((int) EncryptingBlobStore.ciphertextLength(content.length));
            assertThat(store.openChannel(ACME_KEY)).isEmpty();
            Path file = Files.write(temp.resolve("adopt-me"), content);
            assertThatThrownBy(() -> store.adopt(BlobKey.of("tenants/acme/builds/b1/rootfs/adopted"), file))
                    .isInstanceOf(java.nio.file.AtomicMoveNotSupportedException.class);
            assertThat(file).exists();
        }

        @Test
        void plaintextFromBeforeTheOwnerHadKeysStaysReadableUntilReencrypted() throws IOException {
            putRaw(ACME_KEY, content);
            acme = keyring(MARKER, KEYSET, true);

            assertThat(read(store, ACME_KEY, ByteRange.ALL)).isEqualTo(content);
            assertThat(read(store, ACME_KEY, new ByteRange(300_000, 1000))).isEqualTo(Arrays.copyOfRange(content, 300_000, 301_000));
            assertThat(store.stat(ACME_KEY)).get().extracting(BlobInfo::size).isEqualTo((long) content.length);
            assertThat(store.list("tenants/acme/", null).next().size()).isEqualTo(content.length);
            assertThat(store.needsReencryption(ACME_KEY)).isTrue();

            assertThat(store.reencrypt(ACME_KEY)).isEqualTo(content.length);

            assertThat(store.needsReencryption(ACME_KEY)).isFalse();
            assertThat(store.reencrypt(ACME_KEY)).as("nothing left to do").isEqualTo(-1);
            assertThat(read(raw, ACME_KEY, ByteRange.ALL)).isNotEqualTo(content);
            acme = KEYRING;
            assertThat(read(store, ACME_KEY, ByteRange.ALL)).as("readable once plaintext is no longer accepted").isEqualTo(content);
            assertThat(store.stat(ACME_KEY)).get().extracting(BlobInfo::size).isEqualTo((long) content.length);
        }

        @Test
        void aPlaintextBlobIsAnIntegrityViolationOnceTheOwnerNoLongerAcceptsPlaintext() throws IOException {
            putRaw(ACME_KEY, content);

            assertThatThrownBy(() -> read(store, ACME_KEY, ByteRange.ALL)).isInstanceOf(IntegrityViolationException.class);
            assertThatThrownBy(() -> read(store, ACME_KEY, new ByteRange(10, 10))).isInstanceOf(IntegrityViolationException.class);
        }

        @Test
        void aBlobCopiedFromAnotherEncryptedOwnerIsNotMistakenForPlaintext() throws IOException {
            EncryptingBlobStore other = new EncryptingBlobStore(raw, OTHER_KEYS);
            BlobKey foreign = BlobKey.of("tenants/evil/builds/b1/rootfs/app.tar");
            other.put(foreign, new ByteArrayInputStream(content), content.length, WriteMode.CREATE_NEW);
            putRaw(ACME_KEY, read(raw, foreign, ByteRange.ALL));
            acme = keyring(MARKER, KEYSET, false);

            assertThatThrownBy(() -> read(store, ACME_KEY, ByteRange.ALL)).isInstanceOf(IntegrityViolationException.class);
        }

        @Test
        void afterRotationNewBlobsUseTheNewKeyAndOldOnesStayReadableUntilReencrypted() throws Exception {
            BlobKey old = BlobKey.of("tenants/acme/builds/b1/rootfs/old");
            store.put(old, new ByteArrayInputStream(content), content.length, WriteMode.CREATE_NEW);
            KeysetHandle rotated = rotated(KEYSET);
            acme = keyring(MARKER, rotated, false);
            store.put(ACME_KEY, new ByteArrayInputStream(content), content.length, WriteMode.CREATE_NEW);

            assertThat(store.needsReencryption(old)).isTrue();
            assertThat(store.needsReencryption(ACME_KEY)).isFalse();
            assertThat(read(store, old, new ByteRange(123_456, 100))).isEqualTo(Arrays.copyOfRange(content, 123_456, 123_556));

            store.reencrypt(old);
            KeysetHandle onlyNew = KeysetHandle.newBuilder()
                    .addEntry(KeysetHandle.importKey(rotated.getPrimary().getKey()).withFixedId(rotated.getPrimary().getId()).makePrimary())
                    .build();
            acme = keyring(MARKER, onlyNew, false);

            assertThat(read(store, old, ByteRange.ALL)).as("old blob re-encrypted, old key retired").isEqualTo(content);
            assertThat(read(store, ACME_KEY, ByteRange.ALL)).isEqualTo(content);
            acme = KEYRING;
            assertThatThrownBy(() -> read(store, ACME_KEY, ByteRange.ALL)).as("written under a key the old keyset lacks")
                    .isInstanceOf(IntegrityViolationException.class).hasMessageContaining(ACME_KEY.value());
        }

        /**
         * Keys that change elsewhere (another node rotated them): writes take the keys' current
         * version, and a blob under a key the cached keyring lacks reloads it once, for whole,
         * ranged and large local reads alike.
         */
        @Test
        void writesUseTheCurrentKeysAndABlobUnderAKeyTheCachedKeyringLacksReloadsIt() throws Exception {
            DataKeyring current = keyring(MARKER, rotated(KEYSET), false);
            java.util.concurrent.atomic.AtomicInteger reloads = new java.util.concurrent.atomic.AtomicInteger();
            EncryptingBlobStore stale = new EncryptingBlobStore(raw, new DataKeys() {
                @Override
                public Optional<DataKeyring> forKey(BlobKey key) {
                    return Optional.of(KEYRING);
                }

                @Override
                public Optional<DataKeyring> forWriting(BlobKey key) {
                    return Optional.of(current);
                }

                @Override
                public Optional<DataKeyring> reloaded(BlobKey key) {
                    reloads.incrementAndGet();
                    return Optional.of(current);
                }
            });
            byte[] big = SeededBytes.array(10, 5 * MIB);

            stale.put(ACME_KEY, new ByteArrayInputStream(big), big.length, WriteMode.OVERWRITE);

            assertThat(stale.needsReencryption(ACME_KEY)).as("judged by the current keys").isFalse();
            assertThat(read(stale, ACME_KEY, ByteRange.ALL)).isEqualTo(big);
            assertThat(read(stale, ACME_KEY, new ByteRange(1000, 100))).isEqualTo(Arrays.copyOfRange(big, 1000, 1100));
            assertThat(read(stale, ACME_KEY, new ByteRange(0, 4L * MIB))).isEqualTo(Arrays.copyOf(big, 4 * MIB));
            assertThat(reloads.get()).as("one reload per read").isEqualTo(3);
            assertThatThrownBy(() -> read(store, ACME_KEY, ByteRange.ALL)).as("keys that never learn of the key still fail")
                    .isInstanceOf(IntegrityViolationException.class);
        }

        /** Large local ranges decrypt ahead on other threads: the bytes, and a damaged segment far into the range. */
        @Test
        void aLargeLocalRangeDecryptsAheadAndStillFailsOnADamagedSegment() throws IOException {
            byte[] big = SeededBytes.array(9, 5 * MIB + 77);
            store.put(ACME_KEY, new ByteArrayInputStream(big), big.length, WriteMode.OVERWRITE);
            for (long offset : new long[] {0, 1000, PLAINTEXT_SEGMENT_SIZE - HEADER_SIZE, 3 * MIB + 5}) {
                long length = Math.min(2L * MIB + 3, big.length - offset);
                assertThat(read(store, ACME_KEY, new ByteRange(offset, length))).as("range at %d", offset)
                        .isEqualTo(Arrays.copyOfRange(big, (int) offset, (int) (offset + length)));
            }

            byte[] stored = read(raw, ACME_KEY, ByteRange.ALL);
            stored[ENVELOPE_SIZE + 12 * CIPHERTEXT_SEGMENT_SIZE + 99] ^= 1;
            putRaw(ACME_KEY, stored);
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            assertThatThrownBy(() -> {
                try (InputStream in = store.open(ACME_KEY, new ByteRange(1000, 4L * MIB))) {
                    in.transferTo(got);
                }
            }).isInstanceOf(IntegrityViolationException.class);
            assertThat(got.toByteArray()).as("what came before the damage is true plaintext")
                    .isEqualTo(Arrays.copyOfRange(big, 1000, 1000 + got.size()));
        }

        @Test
        void aKeysetWithOtherParametersIsRefused() throws GeneralSecurityException {
            KeysetHandle oneMegabyte = KeysetHandle.newBuilder()
                    .addEntry(KeysetHandle.generateEntryFromParameters(
                            com.google.crypto.tink.streamingaead.PredefinedStreamingAeadParameters.AES256_GCM_HKDF_1MB).withRandomId().makePrimary())
                    .build();

            assertThatThrownBy(() -> new DataKeyring(MARKER, oneMegabyte, false))
                    .isInstanceOf(GeneralSecurityException.class).hasMessageContaining("parameters");
        }

        @Test
        void aKeyringNeverShowsKeyMaterial() throws GeneralSecurityException {
            assertThat(KEYRING.toString()).doesNotContain(java.util.HexFormat.of().formatHex(MARKER)).startsWith("DataKeyring[primary=");
        }
    }

    // ---------------------------------------------------------------- range reads read only what they need

    /** Counts the ciphertext bytes read from the delegate. */
    static class CountingBlobStore extends ForwardingBlobStore {
        final AtomicLong bytesRead = new AtomicLong();

        CountingBlobStore(BlobStore inner) {
            super(inner);
        }

        @Override
        public InputStream open(BlobKey key, ByteRange range) throws IOException {
            return new FilterInputStream(inner.open(key, range)) {
                @Override
                public int read() throws IOException {
                    int b = super.read();
                    if (b >= 0) {
                        bytesRead.incrementAndGet();
                    }
                    return b;
                }

                @Override
                public int read(byte[] b, int off, int len) throws IOException {
                    int n = super.read(b, off, len);
                    if (n > 0) {
                        bytesRead.addAndGet(n);
                    }
                    return n;
                }

                @Override
                public long skip(long n) throws IOException {
                    long skipped = super.skip(n);
                    bytesRead.addAndGet(skipped);
                    return skipped;
                }
            };
        }
    }

    /** Ranges at the start, in the middle, at the end, and starting at a segment's last byte (the most segments). */
    @ParameterizedTest(name = "range at {0}")
    @ValueSource(longs = {0, 7L * MIB + 12345, 19L * MIB - 100, 30L * PLAINTEXT_SEGMENT_SIZE - HEADER_SIZE - 1})
    void aRangeOfALargeBlobReadsOnlyTheSegmentsItNeeds(long offset) throws IOException {
        CountingBlobStore counting = new CountingBlobStore(new MemoryBlobStore());
        EncryptingBlobStore big = new EncryptingBlobStore(counting, KEYS);
        long size = 20L * MIB;
        BlobKey key = BlobKey.of("tenants/acme/builds/b1/rootfs/big.img");
        big.put(key, SeededBytes.stream(7, size), size, WriteMode.CREATE_NEW);
        counting.bytesRead.set(0);

        byte[] range;
        try (InputStream in = big.open(key, new ByteRange(offset, MIB))) {
            range = in.readAllBytes();
        }

        long wanted = Math.min(MIB, size - offset);
        assertThat(counting.bytesRead.get()).as("ciphertext read for a 1 MiB range")
                .isLessThanOrEqualTo(3L * MIB / 2 + ENVELOPE_SIZE + HEADER_SIZE);
        byte[] expected;
        try (InputStream all = SeededBytes.stream(7, size)) {
            all.skipNBytes(offset);
            expected = all.readNBytes((int) wanted);
        }
        assertThat(range).isEqualTo(expected);
    }

    // ---------------------------------------------------------------- sizes

    @ParameterizedTest(name = "{0} bytes")
    @ValueSource(longs = {
        0, 1, 2, PLAINTEXT_SEGMENT_SIZE - HEADER_SIZE - 1, PLAINTEXT_SEGMENT_SIZE - HEADER_SIZE,
        PLAINTEXT_SEGMENT_SIZE - HEADER_SIZE + 1, MIB, 2L * PLAINTEXT_SEGMENT_SIZE - HEADER_SIZE - 1,
        2L * PLAINTEXT_SEGMENT_SIZE - HEADER_SIZE, 2L * PLAINTEXT_SEGMENT_SIZE - HEADER_SIZE + 1, 5L * MIB + 3})
    void theCiphertextLengthFormulaMatchesTink(long size) throws IOException {
        MemoryBlobStore memory = new MemoryBlobStore();
        EncryptingBlobStore encrypting = new EncryptingBlobStore(memory, KEYS);
        BlobKey key = BlobKey.of("tenants/acme/cache/dependencies/blob");

        BlobInfo info = encrypting.put(key, SeededBytes.stream(size, size), -1, WriteMode.CREATE_NEW);

        long stored = memory.stat(key).orElseThrow().size();
        assertThat(EncryptingBlobStore.ciphertextLength(size)).as("formula vs Tink").isEqualTo(stored);
        assertThat(EncryptingBlobStore.plaintextLength(stored)).isEqualTo(size);
        assertThat(info.size()).isEqualTo(size);
        assertThat(encrypting.stat(key)).get().extracting(BlobInfo::size).isEqualTo(size);
        assertThat(encrypting.list("", null).next().size()).isEqualTo(size);
        try (InputStream in = encrypting.open(key, ByteRange.ALL)) {
            assertThat(SeededBytes.sha256(in)).isEqualTo(SeededBytes.sha256(size, size));
        }
    }

    @Test
    void knownSegmentSizes() {
        assertThat(EncryptingBlobStore.ciphertextLength(0)).isEqualTo(ENVELOPE_SIZE + HEADER_SIZE + 16);
        assertThat(EncryptingBlobStore.ciphertextLength(PLAINTEXT_SEGMENT_SIZE - HEADER_SIZE))
                .isEqualTo(ENVELOPE_SIZE + CIPHERTEXT_SEGMENT_SIZE);
        assertThat(EncryptingBlobStore.ciphertextLength(PLAINTEXT_SEGMENT_SIZE - HEADER_SIZE + 1))
                .isEqualTo(ENVELOPE_SIZE + CIPHERTEXT_SEGMENT_SIZE + 1 + 16);
    }
}
