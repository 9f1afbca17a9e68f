package dev.builderd.storage.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import dev.builderd.storage.blob.BlobAlreadyExistsException;
import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobNotFoundException;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.UploadLengthMismatchException;
import dev.builderd.storage.blob.WriteMode;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The behaviour every {@link BlobStore} promises, as tests: every backend and every wrapper has a
 * test class that extends this one and answers {@link #newStore()}.
 *
 * <p>Hooks:
 * <ul>
 *   <li>{@link #newStore()} (required): a fresh, empty store; called before every test. A store
 *       that is {@link AutoCloseable} is closed after it.</li>
 *   <li>{@link #largeBlobSize()}: the size of the one large blob, streamed from a generator
 *       (default 12 MiB, above common multipart and encryption-segment sizes).</li>
 *   <li>{@link #leftovers()}: temporary or partial objects the backend can see but the contract
 *       hides (temp files, unfinished multipart uploads); after a failed upload there must be
 *       none. Default: none can exist.</li>
 * </ul>
 *
 * <p>Random data comes from one seed per test, in every assertion message about content; set
 * {@code -Dbuilderd.test.seed=N} to replay a failure.
 */
public abstract class BlobStoreContract {

    protected static final int MIB = 1 << 20;

    /** Size of the blob the range tests read from: crosses two 1 MiB boundaries. */
    private static final int RANGE_BLOB_SIZE = 2 * MIB + 123;

    private static final List<String> ORDERED_KEYS = List.of(
            "a-c", "a.b", "a/a", "a/b", "a/b-c", "a/c.d", "a/c/d", "a/c0", "a0", "ab",
            "x/\uE000", "x/\uFFFD", "x/\uD83D\uDE00");

    /** The store under test, fresh for every test. */
    protected BlobStore store;

    /** The seed of this test's random data. */
    protected long seed;

    /** A fresh, empty store. Called before every test. */
    protected abstract BlobStore newStore() throws Exception;

    /** Size of the large blob test; override to test bigger (or, for slow backends, smaller). */
    protected long largeBlobSize() {
        return 12L * MIB;
    }

    /**
     * Temporary or partial objects of unfinished uploads that the backend holds (say, temp files
     * or multipart uploads), described for a failure message. Default: the backend has none.
     */
    protected List<String> leftovers() throws Exception {
        return List.of();
    }

    @BeforeEach
    final void createStore() throws Exception {
        Long fixed = Long.getLong("builderd.test.seed");
        seed = fixed != null ? fixed : new SecureRandom().nextLong();
        store = newStore();
    }

    @AfterEach
    final void closeStore() throws Exception {
        if (store instanceof AutoCloseable closeable) {
            closeable.close();
        }
    }

    // ---------------------------------------------------------------- round trips

    static Stream<Arguments> roundTripSizes() {
        return Stream.of(0, 1, MIB - 1, MIB, MIB + 1)
                .flatMap(size -> Stream.of(arguments(size, true), arguments(size, false)));
    }

    @ParameterizedTest(name = "{0} bytes, length known: {1}")
    @MethodSource("roundTripSizes")
    void roundTrip(int size, boolean lengthKnown) throws Exception {
        BlobKey key = BlobKey.of("round/trip-" + size);
        byte[] data = SeededBytes.array(seed, size);

        BlobInfo put = store.put(key, new ByteArrayInputStream(data), lengthKnown ? size : -1, WriteMode.CREATE_NEW);

        assertThat(put.key()).isEqualTo(key);
        assertThat(put.size()).isEqualTo(size);
        assertThat(put.lastModified()).isNotNull();
        assertThat(store.stat(key)).get().extracting(BlobInfo::key, BlobInfo::size).containsExactly(key, (long) size);
        assertThat(readAll(key)).as(seedNote("content of " + key)).isEqualTo(data);
        assertThat(keys(store.list("", null))).containsExactly(key.value());
        assertThat(store.list("", null).next().size()).isEqualTo(size);
        assertNoLeftovers();
    }

    @Test
    void largeBlobIsStreamedThroughWhole() throws Exception {
        long size = largeBlobSize();
        BlobKey key = BlobKey.of("large/blob.bin");

        BlobInfo put = store.put(key, SeededBytes.stream(seed, size), size, WriteMode.OVERWRITE);

        assertThat(put.size()).isEqualTo(size);
        assertThat(store.stat(key)).get().extracting(BlobInfo::size).isEqualTo(size);
        try (InputStream in = store.open(key, ByteRange.ALL)) {
            assertThat(SeededBytes.sha256(in)).as(seedNote("SHA-256 of " + size + " bytes")).isEqualTo(SeededBytes.sha256(seed, size));
        }
        long middle = size / 2 - 1000;
        try (InputStream in = store.open(key, new ByteRange(middle, 3 * MIB))) {
            byte[] expected;
            try (InputStream all = SeededBytes.stream(seed, size)) {
                all.skipNBytes(middle);
                expected = all.readNBytes((int) Math.min(3 * MIB, size - middle));
            }
            assertThat(in.readAllBytes()).as(seedNote("range at " + middle + " of the large blob")).isEqualTo(expected);
        }
        assertNoLeftovers();
    }

    // ---------------------------------------------------------------- ranges

    static Stream<Arguments> ranges() {
        int size = RANGE_BLOB_SIZE;
        return Stream.of(
                arguments("start", new ByteRange(0, 100)),
                arguments("first byte", ByteRange.inclusive(0, 0)),
                arguments("middle, across 1 MiB", new ByteRange(MIB - 50, 100)),
                arguments("across 2 MiB to the end", new ByteRange(2 * MIB - 7, ByteRange.TO_END)),
                arguments("exactly the end", new ByteRange(size - 100, 100)),
                arguments("last byte", ByteRange.inclusive(size - 1, size - 1)),
                arguments("running past the end", new ByteRange(size - 10, 1000)),
                arguments("starting at the end", new ByteRange(size, 10)),
                arguments("starting past the end", new ByteRange(size + 1000, 10)),
                arguments("to end from the middle", new ByteRange(12345, ByteRange.TO_END)),
                arguments("zero length", new ByteRange(500, 0)),
                arguments("zero length at 0", new ByteRange(0, 0)),
                arguments("all", ByteRange.ALL));
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("ranges")
    void rangeReadsExactlyTheSelectedBytes(String name, ByteRange range) throws Exception {
        BlobKey key = BlobKey.of("ranges/blob");
        byte[] data = SeededBytes.array(seed, RANGE_BLOB_SIZE);
        store.put(key, new ByteArrayInputStream(data), data.length, WriteMode.OVERWRITE);

        int from = (int) Math.min(range.offset(), data.length);
        int to = (int) (from + range.lengthWithin(data.length));
        byte[] expected = Arrays.copyOfRange(data, from, to);
        try (InputStream in = store.open(key, range)) {
            assertThat(in.readAllBytes()).as(seedNote(name + " " + range)).isEqualTo(expected);
        }
    }

    @Test
    void rangeOfAnEmptyBlobIsEmpty() throws Exception {
        BlobKey key = BlobKey.of("ranges/empty");
        store.put(key, InputStream.nullInputStream(), 0, WriteMode.CREATE_NEW);

        for (ByteRange range : List.of(ByteRange.ALL, new ByteRange(0, 10), new ByteRange(5, ByteRange.TO_END))) {
            try (InputStream in = store.open(key, range)) {
                assertThat(in.read()).as(range.toString()).isEqualTo(-1);
            }
        }
    }

    // ---------------------------------------------------------------- missing keys

    @ParameterizedTest
    @ValueSource(strings = {"missing", "tenants/acme/builds/b1/rootfs/filesystem.ext4"})
    void missingKeyIsNotFoundNamingTheKey(String name) throws Exception {
        BlobKey key = BlobKey.of(name);
        store.put(BlobKey.of("other"), bytes("x"), 1, WriteMode.CREATE_NEW);

        assertThatThrownBy(() -> store.open(key, ByteRange.ALL))
                .isInstanceOf(BlobNotFoundException.class)
                .hasMessageContaining(name)
                .satisfies(e -> assertThat(((BlobNotFoundException) e).key()).isEqualTo(key));
        assertThatThrownBy(() -> store.open(key, new ByteRange(10, 10)))
                .isInstanceOf(BlobNotFoundException.class)
                .hasMessageContaining(name);
        assertThat(store.stat(key)).isEmpty();
        assertThat(store.delete(key)).isFalse();
    }

    @Test
    void keyBelowAnExistingBlobIsMissing() throws Exception {
        store.put(BlobKey.of("a"), bytes("file"), 4, WriteMode.CREATE_NEW);
        BlobKey below = BlobKey.of("a/b");
        BlobKey deeper = BlobKey.of("a/b/c");

        for (BlobKey key : List.of(below, deeper)) {
            assertThat(store.stat(key)).as(key.value()).isEmpty();
            assertThatThrownBy(() -> store.open(key, ByteRange.ALL)).isInstanceOf(BlobNotFoundException.class)
                    .hasMessageContaining(key.value());
            assertThat(store.delete(key)).as(key.value()).isFalse();
        }
        assertThat(readString(BlobKey.of("a"))).isEqualTo("file");
    }

    @Test
    void deleteRemovesOnce() throws Exception {
        BlobKey key = BlobKey.of("delete/me");
        store.put(key, bytes("bye"), 3, WriteMode.CREATE_NEW);

        assertThat(store.delete(key)).isTrue();
        assertThat(store.delete(key)).isFalse();
        assertThat(store.stat(key)).isEmpty();
        assertThatThrownBy(() -> store.open(key, ByteRange.ALL)).isInstanceOf(BlobNotFoundException.class);
        assertThat(store.list("", null).hasNext()).isFalse();

        store.put(key, bytes("again"), 5, WriteMode.CREATE_NEW);
        assertThat(readString(key)).isEqualTo("again");
    }

    @Test
    void deleteAllRemovesEachBlobOnceAndCountsWhatItRemoved() throws Exception {
        BlobKey a = BlobKey.of("many/a");
        BlobKey b = BlobKey.of("many/deeper/b");
        BlobKey kept = BlobKey.of("many/kept");
        for (BlobKey key : java.util.List.of(a, b, kept)) {
            store.put(key, bytes("x"), 1, WriteMode.CREATE_NEW);
        }

        assertThat(store.deleteAll(java.util.List.of(a, b, BlobKey.of("many/absent")))).isEqualTo(2);

        assertThat(store.stat(a)).isEmpty();
        assertThat(store.stat(b)).isEmpty();
        assertThat(readString(kept)).isEqualTo("x");
        assertThat(store.deleteAll(java.util.List.of(a))).isZero();
    }

    // ---------------------------------------------------------------- write modes

    @ParameterizedTest(name = "{0} bytes over 1 MiB + 1")
    @ValueSource(ints = {0, 3, MIB + 2})
    void overwriteReplacesTheWholeBlob(int newSize) throws Exception {
        BlobKey key = BlobKey.of("over/write");
        store.put(key, SeededBytes.stream(seed, MIB + 1), MIB + 1, WriteMode.CREATE_NEW);
        byte[] replacement = SeededBytes.array(seed + 1, newSize);

        BlobInfo info = store.put(key, new ByteArrayInputStream(replacement), newSize, WriteMode.OVERWRITE);

        assertThat(info.size()).isEqualTo(newSize);
        assertThat(store.stat(key)).get().extracting(BlobInfo::size).isEqualTo((long) newSize);
        assertThat(readAll(key)).as(seedNote("replaced content")).isEqualTo(replacement);
        assertThat(keys(store.list("", null))).containsExactly(key.value());
        assertNoLeftovers();
    }

    @Test
    void createNewOnAnExistingKeyFailsNamingTheKeyAndKeepsTheBlob() throws Exception {
        BlobKey key = BlobKey.of("create/new");
        store.put(key, bytes("first"), 5, WriteMode.CREATE_NEW);

        assertThatThrownBy(() -> store.put(key, bytes("second"), 6, WriteMode.CREATE_NEW))
                .isInstanceOf(BlobAlreadyExistsException.class)
                .hasMessageContaining(key.value())
                .satisfies(e -> assertThat(((BlobAlreadyExistsException) e).key()).isEqualTo(key));
        assertThat(readString(key)).isEqualTo("first");
        assertThat(store.stat(key)).get().extracting(BlobInfo::size).isEqualTo(5L);
        assertNoLeftovers();
    }

    @Test
    void ofConcurrentCreateNewPutsExactlyOneWins() throws Exception {
        int writers = 8;
        int size = 256 * 1024 + 7;
        BlobKey key = BlobKey.of("race/winner");
        List<Callable<Void>> puts = IntStream.range(0, writers).<Callable<Void>>mapToObj(i -> () -> {
            store.put(key, SeededBytes.stream(seed + i, size), size, WriteMode.CREATE_NEW);
            return null;
        }).toList();

        List<Future<Void>> outcomes = runTogether(puts);

        List<Integer> winners = new ArrayList<>();
        for (int i = 0; i < writers; i++) {
            try {
                outcomes.get(i).get();
                winners.add(i);
            } catch (ExecutionException e) {
                assertThat(e.getCause()).as("writer " + i).isInstanceOf(BlobAlreadyExistsException.class)
                        .hasMessageContaining(key.value());
            }
        }
        assertThat(winners).as("writers whose CREATE_NEW succeeded").hasSize(1);
        try (InputStream in = store.open(key, ByteRange.ALL)) {
            assertThat(SeededBytes.sha256(in)).as(seedNote("content is the winner's, writer " + winners.get(0)))
                    .isEqualTo(SeededBytes.sha256(seed + winners.get(0), size));
        }
        assertThat(keys(store.list("", null))).containsExactly(key.value());
        assertNoLeftovers();
    }

    @Test
    void concurrentOverwritesNeverMixTwoBlobs() throws Exception {
        BlobKey key = BlobKey.of("race/overwrite");
        int size = 3 * MIB / 2;
        store.put(key, SeededBytes.stream(seed, size), size, WriteMode.OVERWRITE);
        Set<String> versions = Set.of(SeededBytes.sha256(seed, size), SeededBytes.sha256(seed + 1, size));
        int rounds = 10;
        List<Callable<Void>> tasks = new ArrayList<>();
        for (int w = 0; w < 2; w++) {
            long version = seed + w;
            tasks.add(() -> {
                for (int r = 0; r < rounds; r++) {
                    store.put(key, SeededBytes.stream(version, size), size, WriteMode.OVERWRITE);
                }
                return null;
            });
        }
        List<String> seen = Collections.synchronizedList(new ArrayList<>());
        for (int reader = 0; reader < 2; reader++) {
            tasks.add(() -> {
                for (int r = 0; r < rounds; r++) {
                    try (InputStream in = store.open(key, ByteRange.ALL)) {
                        seen.add(SeededBytes.sha256(in));
                    }
                }
                return null;
            });
        }

        for (Future<Void> outcome : runTogether(tasks)) {
            outcome.get();
        }

        assertThat(seen).as(seedNote("every read is one whole version")).hasSize(2 * rounds).allMatch(versions::contains);
        assertNoLeftovers();
    }

    // ---------------------------------------------------------------- failed uploads

    static Stream<Arguments> failures() {
        return Stream.of(
                arguments("fails before the first byte", 0L, 100L),
                arguments("fails after 1 byte", 1L, 100L),
                arguments("fails after 1 MiB + 1", (long) MIB + 1, 2L * MIB),
                arguments("vetoes at its last read", 1000L, 1000L),
                arguments("vetoes an empty blob", 0L, 0L),
                arguments("unknown length fails mid-way", (long) MIB + 1, -1L));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("failures")
    void aFailingStreamStoresNothing(String name, long failAfter, long declared) throws Exception {
        BlobKey key = BlobKey.of("failed/upload");

        assertUploadFails(key, failAfter, declared, WriteMode.CREATE_NEW);

        assertThat(store.stat(key)).isEmpty();
        assertThat(store.list("", null).hasNext()).as("list after a failed upload").isFalse();
        assertThatThrownBy(() -> store.open(key, ByteRange.ALL)).isInstanceOf(BlobNotFoundException.class);
        assertNoLeftovers();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("failures")
    void aFailingStreamDoesNotReplaceTheBlob(String name, long failAfter, long declared) throws Exception {
        BlobKey key = BlobKey.of("failed/overwrite");
        store.put(key, bytes("the old blob"), 12, WriteMode.CREATE_NEW);

        assertUploadFails(key, failAfter, declared, WriteMode.OVERWRITE);

        assertThat(readString(key)).isEqualTo("the old blob");
        assertThat(store.stat(key)).get().extracting(BlobInfo::size).isEqualTo(12L);
        assertThat(keys(store.list("", null))).containsExactly(key.value());
        assertNoLeftovers();
    }

    private void assertUploadFails(BlobKey key, long failAfter, long declared, WriteMode mode) {
        FailingInputStream data = new FailingInputStream(SeededBytes.stream(seed, failAfter), failAfter);
        assertThatThrownBy(() -> store.put(key, data, declared, mode))
                .isInstanceOf(IOException.class)
                .satisfies(e -> assertThat(causes(e)).as("the stream's own failure is passed on")
                        .anyMatch(c -> FailingInputStream.MESSAGE.equals(c.getMessage())));
    }

    static Stream<Arguments> lengthMismatches() {
        return Stream.of(
                arguments(100L, 50L), arguments(1L, 0L), arguments((long) MIB + 1, MIB),
                arguments(50L, 100L), arguments(0L, 1L), arguments((long) MIB, MIB + 1L));
    }

    @ParameterizedTest(name = "declared {0}, sent {1}")
    @MethodSource("lengthMismatches")
    void aBodyOfTheWrongLengthIsRejectedAndNothingStored(long declared, long sent) throws Exception {
        BlobKey key = BlobKey.of("mismatch/blob");
        BlobKey existing = BlobKey.of("mismatch/existing");
        store.put(existing, bytes("kept"), 4, WriteMode.CREATE_NEW);

        for (BlobKey target : List.of(key, existing)) {
            assertThatThrownBy(() -> store.put(target, SeededBytes.stream(seed, sent), declared, WriteMode.OVERWRITE))
                    .isInstanceOf(UploadLengthMismatchException.class)
                    .hasMessageContaining(target.value())
                    .satisfies(e -> assertThat(((UploadLengthMismatchException) e).declared()).isEqualTo(declared));
        }

        assertThat(store.stat(key)).isEmpty();
        assertThat(readString(existing)).isEqualTo("kept");
        assertThat(keys(store.list("", null))).containsExactly(existing.value());
        assertNoLeftovers();
    }

    // ---------------------------------------------------------------- listing

    @Test
    void emptyStoreListsNothing() throws Exception {
        assertThat(store.list("", null).hasNext()).isFalse();
        assertThat(store.list("a", BlobKey.of("a")).hasNext()).isFalse();
        Iterator<BlobInfo> none = store.list("", null);
        assertThatThrownBy(none::next).isInstanceOf(NoSuchElementException.class);
    }

    @Test
    void listIsInCodePointOrder() throws Exception {
        putAll(ORDERED_KEYS);

        List<String> listed = keys(store.list("", null));

        assertThat(listed).as(seedNote("list order")).containsExactlyElementsOf(ORDERED_KEYS);
        assertThat(listed).isSortedAccordingTo(BlobKey::compareKeys);
    }

    static Stream<Arguments> listSelections() {
        return Stream.of(
                arguments("", null, ORDERED_KEYS),
                arguments("a/", null, List.of("a/a", "a/b", "a/b-c", "a/c.d", "a/c/d", "a/c0")),
                arguments("a/b", null, List.of("a/b", "a/b-c")),
                arguments("a/c", null, List.of("a/c.d", "a/c/d", "a/c0")),
                arguments("a/c/", null, List.of("a/c/d")),
                arguments("a", null, ORDERED_KEYS.subList(0, 10)),
                arguments("x/", null, List.of("x/\uE000", "x/\uFFFD", "x/\uD83D\uDE00")),
                arguments("x/\uD83D\uDE00", null, List.of("x/\uD83D\uDE00")),
                arguments("zzz", null, List.of()),
                arguments("a/b/", null, List.of()),
                arguments("", "a/b", List.of("a/b-c", "a/c.d", "a/c/d", "a/c0", "a0", "ab", "x/\uE000", "x/\uFFFD", "x/\uD83D\uDE00")),
                arguments("a/", "a/b", List.of("a/b-c", "a/c.d", "a/c/d", "a/c0")),
                arguments("a/", "a/bz", List.of("a/c.d", "a/c/d", "a/c0")),
                arguments("a/", "a/c", List.of("a/c.d", "a/c/d", "a/c0")),
                arguments("a/", "a/c/d", List.of("a/c0")),
                arguments("a/", "0", List.of("a/a", "a/b", "a/b-c", "a/c.d", "a/c/d", "a/c0")),
                arguments("a/", "b", List.of()),
                arguments("x/", "x/\uFFFD", List.of("x/\uD83D\uDE00")),
                arguments("", "x/\uD83D\uDE00", List.of()));
    }

    @ParameterizedTest(name = "prefix \"{0}\" after {1}")
    @MethodSource("listSelections")
    void listSelectsByPrefixAndStartAfter(String prefix, String startAfter, List<String> expected) throws Exception {
        putAll(ORDERED_KEYS);

        Iterator<BlobInfo> listed = store.list(prefix, startAfter == null ? null : BlobKey.of(startAfter));

        assertThat(keys(listed)).containsExactlyElementsOf(expected);
    }

    @Test
    void listPagesWithStartAfter() throws Exception {
        List<String> expected = new ArrayList<>();
        for (int i = 0; i < 250; i++) {
            expected.add("paged/" + (i % 7) + "/item-" + i);
        }
        putAll(expected);
        putAll(List.of("page", "paged-after", "paged.txt", "pagee/x", "pagec/paged/x"));
        expected.sort(BlobKey::compareKeys);

        List<List<String>> pages = new ArrayList<>();
        BlobKey after = null;
        while (true) {
            Iterator<BlobInfo> it = store.list("paged/", after);
            List<String> page = new ArrayList<>();
            while (page.size() < 100 && it.hasNext()) {
                page.add(it.next().key().value());
            }
            if (page.isEmpty()) {
                break;
            }
            pages.add(page);
            after = BlobKey.of(page.get(page.size() - 1));
        }

        assertThat(pages).extracting(List::size).containsExactly(100, 100, 50);
        assertThat(pages.stream().flatMap(List::stream).toList()).containsExactlyElementsOf(expected);
    }

    @Test
    void listReportsSizes() throws Exception {
        store.put(BlobKey.of("sizes/a"), SeededBytes.stream(seed, 10), 10, WriteMode.CREATE_NEW);
        store.put(BlobKey.of("sizes/b"), SeededBytes.stream(seed, MIB + 1), -1, WriteMode.CREATE_NEW);

        assertThat(iterable(store.list("sizes/", null)))
                .extracting(info -> info.key().value(), BlobInfo::size)
                .containsExactly(tuple("sizes/a", 10L),
                        tuple("sizes/b", (long) MIB + 1));
        assertThat(iterable(store.list("sizes/", null))).allSatisfy(info -> assertThat(info.lastModified()).isNotNull());
    }

    // ---------------------------------------------------------------- odd keys

    static Stream<String> oddKeys() {
        StringBuilder longKey = new StringBuilder("long");
        while (longKey.length() + 1 + 200 <= BlobKey.MAX_LENGTH) {
            longKey.append('/').append("x".repeat(200));
        }
        longKey.append('/').append("y".repeat(BlobKey.MAX_LENGTH - longKey.length() - 1));
        return Stream.of(
                "with space/file name.txt", " leading and trailing ", "plus+sign", "percent%20encoded%2Fslash",
                "equals=sign&and", "tilde~home", "a/b.", "trailing.dots..", "...", "..a/a..", ".hidden",
                "-dash/_under", "colon:key;semi", "quote'\"double", "star*?[glob]", "hash#frag@at!", "(paren),{brace}$",
                "ünïcödé/日本語/файл", "emoji/\uD83D\uDE00 non-bmp \uD83D\uDCE6", "max\uFFFD/\uE000private",
                "sha256:0123456789abcdef", longKey.toString());
    }

    @ParameterizedTest
    @MethodSource("oddKeys")
    void oddButLegalKeysRoundTrip(String name) throws Exception {
        BlobKey key = BlobKey.of(name);
        byte[] data = name.getBytes(StandardCharsets.UTF_8);

        store.put(key, new ByteArrayInputStream(data), data.length, WriteMode.CREATE_NEW);

        assertThat(readAll(key)).isEqualTo(data);
        assertThat(store.stat(key)).get().extracting(BlobInfo::key).isEqualTo(key);
        assertThat(keys(store.list("", null))).containsExactly(name);
        assertThat(keys(store.list(name, null))).containsExactly(name);
        assertThat(store.delete(key)).isTrue();
        assertThat(store.stat(key)).isEmpty();
    }

    @Test
    void oddKeysListTogetherInOrder() throws Exception {
        List<String> names = oddKeys().toList();
        putAll(names);

        assertThat(keys(store.list("", null))).containsExactlyElementsOf(names.stream().sorted(BlobKey::compareKeys).toList());
    }

    // ---------------------------------------------------------------- readers and writers at once

    enum Change { OVERWRITE, DELETE, OVERWRITE_AND_DELETE }

    @ParameterizedTest
    @EnumSource(Change.class)
    void anOpenReaderKeepsReadingTheOldBlob(Change change) throws Exception {
        BlobKey key = BlobKey.of("snapshot/blob");
        int size = 2 * MIB + 5;
        store.put(key, SeededBytes.stream(seed, size), size, WriteMode.CREATE_NEW);

        try (InputStream reader = store.open(key, ByteRange.ALL); InputStream ranged = store.open(key, new ByteRange(MIB, 1000))) {
            byte[] head = reader.readNBytes(1000);
            if (change != Change.DELETE) {
                store.put(key, SeededBytes.stream(seed + 1, MIB), MIB, WriteMode.OVERWRITE);
            }
            if (change != Change.OVERWRITE) {
                assertThat(store.delete(key)).isTrue();
            }
            InputStream whole = new SequenceInputStream(new ByteArrayInputStream(head), reader);
            assertThat(SeededBytes.sha256(whole)).as(seedNote("old content after " + change)).isEqualTo(SeededBytes.sha256(seed, size));
            byte[] expectedRange;
            try (InputStream all = SeededBytes.stream(seed, size)) {
                all.skipNBytes(MIB);
                expectedRange = all.readNBytes(1000);
            }
            assertThat(ranged.readAllBytes()).as(seedNote("old range after " + change)).isEqualTo(expectedRange);
        }
    }

    @Test
    void concurrentPutsOfDifferentKeysAllLand() throws Exception {
        int writers = 8;
        int perWriter = 10;
        List<Callable<Void>> tasks = IntStream.range(0, writers).<Callable<Void>>mapToObj(w -> () -> {
            for (int i = 0; i < perWriter; i++) {
                int size = 1000 * i + w;
                store.put(BlobKey.of("concurrent/w" + w + "/blob-" + i), SeededBytes.stream(seed + w * 100 + i, size),
                        size, i % 2 == 0 ? WriteMode.CREATE_NEW : WriteMode.OVERWRITE);
            }
            return null;
        }).toList();

        for (Future<Void> outcome : runTogether(tasks)) {
            outcome.get();
        }

        assertThat(keys(store.list("concurrent/", null))).hasSize(writers * perWriter).isSortedAccordingTo(BlobKey::compareKeys);
        for (int w = 0; w < writers; w++) {
            for (int i = 0; i < perWriter; i++) {
                BlobKey key = BlobKey.of("concurrent/w" + w + "/blob-" + i);
                try (InputStream in = store.open(key, ByteRange.ALL)) {
                    assertThat(SeededBytes.sha256(in)).as(seedNote(key.value()))
                            .isEqualTo(SeededBytes.sha256(seed + w * 100 + i, 1000 * i + w));
                }
            }
        }
        assertNoLeftovers();
    }

    @Test
    void backendHasAName() {
        assertThat(store.backendName()).isNotBlank().doesNotContainAnyWhitespaces();
    }

    // ---------------------------------------------------------------- helpers for subclasses

    /** Asserts that {@link #leftovers()} is empty. */
    protected final void assertNoLeftovers() throws Exception {
        assertThat(leftovers()).as("temporary or partial objects left behind").isEmpty();
    }

    /** Stores each key with its own name as content, in a seeded shuffled order. */
    protected final void putAll(List<String> names) throws IOException {
        List<String> shuffled = new ArrayList<>(names);
        Collections.shuffle(shuffled, new Random(seed));
        for (String name : shuffled) {
            byte[] data = name.getBytes(StandardCharsets.UTF_8);
            store.put(BlobKey.of(name), new ByteArrayInputStream(data), data.length, WriteMode.CREATE_NEW);
        }
    }

    /** The whole blob. */
    protected final byte[] readAll(BlobKey key) throws IOException {
        try (InputStream in = store.open(key, ByteRange.ALL)) {
            return in.readAllBytes();
        }
    }

    /** The whole blob as UTF-8. */
    protected final String readString(BlobKey key) throws IOException {
        return new String(readAll(key), StandardCharsets.UTF_8);
    }

    /** A stream of the UTF-8 bytes of {@code text}. */
    protected static InputStream bytes(String text) {
        return new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8));
    }

    /** Drains a listing into its key strings. */
    protected static List<String> keys(Iterator<BlobInfo> listing) {
        List<String> keys = new ArrayList<>();
        listing.forEachRemaining(info -> keys.add(info.key().value()));
        return keys;
    }

    /** {@code what}, with this test's seed for replaying it. */
    protected final String seedNote(String what) {
        return what + " (seed " + seed + "; replay with -Dbuilderd.test.seed=" + seed + ")";
    }

    /**
     * Runs the tasks on their own threads, released at once by a start gate after all are ready,
     * and waits for all of them; the futures hold each task's outcome.
     */
    protected static <T> List<Future<T>> runTogether(List<Callable<T>> tasks) throws InterruptedException {
        CountDownLatch ready = new CountDownLatch(tasks.size());
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService threads = Executors.newFixedThreadPool(tasks.size());
        try {
            List<Future<T>> futures = new ArrayList<>();
            for (Callable<T> task : tasks) {
                futures.add(threads.submit(() -> {
                    ready.countDown();
                    start.await();
                    return task.call();
                }));
            }
            assertThat(ready.await(30, TimeUnit.SECONDS)).as("all threads ready").isTrue();
            start.countDown();
            threads.shutdown();
            assertThat(threads.awaitTermination(5, TimeUnit.MINUTES)).as("all threads done").isTrue();
            return futures;
        } finally {
            threads.shutdownNow();
        }
    }

    private static List<Throwable> causes(Throwable e) {
        List<Throwable> chain = new ArrayList<>();
        for (Throwable t = e; t != null && !chain.contains(t); t = t.getCause()) {
            chain.add(t);
            chain.addAll(Arrays.asList(t.getSuppressed()));
        }
        return chain;
    }

    private static <T> Iterable<T> iterable(Iterator<T> iterator) {
        List<T> all = new ArrayList<>();
        iterator.forEachRemaining(all::add);
        return all;
    }
}
