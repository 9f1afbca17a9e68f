package dev.builderd.storage.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.builderd.storage.blob.BackendUnavailableException;
import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobNotFoundException;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.CircuitBreakingBlobStore;
import dev.builderd.storage.blob.MemoryBlobStore;
import dev.builderd.storage.blob.TieredBlobStore;
import dev.builderd.storage.blob.TieredBlobStore.Tier;
import dev.builderd.storage.blob.TieredBlobStore.TierStats;
import dev.builderd.storage.blob.WriteMode;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.SequenceInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** What {@link TieredBlobStore} does beyond the contract: filling, degrading, and the faults it must survive. */
final class TieredBlobStoreTest {

    private static final int KIB = 1 << 10;
    private static final int MIB = 1 << 20;
    /** Fits the memory tier (at most 1 MiB per entry). */
    private static final int SMALL = 300 * KIB;
    /** Only for the disk tier. */
    private static final int BIG = 2 * MIB + 17;

    @TempDir
    Path temp;

    private final long seed = new SecureRandom().nextLong();
    private final MemoryBlobStore origin = new MemoryBlobStore();
    private final GatedStore remote = new GatedStore(origin);
    private final List<AutoCloseable> toClose = new ArrayList<>();
    private TieredBlobStore tiers;

    /** A remote whose stat and open wait while the gate is closed, and whose streams a test may disturb. */
    static final class GatedStore extends ForwardingBlobStore {
        private volatile CountDownLatch gate;
        volatile UnaryOperator<InputStream> streams = UnaryOperator.identity();
        final AtomicInteger opens = new AtomicInteger();

        GatedStore(BlobStore inner) {
            super(inner);
        }

        void close() {
            gate = new CountDownLatch(1);
        }

        void open() {
            CountDownLatch closed = gate;
            gate = null;
            if (closed != null) {
                closed.countDown();
            }
        }

        private void pass() throws IOException {
            CountDownLatch closed = gate;
            if (closed == null) {
                return;
            }
            try {
                closed.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("given up on while the remote hung");
            }
        }

        @Override
        public InputStream open(BlobKey key, ByteRange range) throws IOException {
            pass();
            opens.incrementAndGet();
            return streams.apply(inner.open(key, range));
        }

        @Override
        public Optional<BlobInfo> stat(BlobKey key) throws IOException {
            pass();
            return inner.stat(key);
        }
    }

    @BeforeEach
    void openStore() throws IOException {
        tiers = tiered(temp.resolve("disk"), 8L * MIB);
    }

    @AfterEach
    void closeAll() throws Exception {
        remote.open();
        for (AutoCloseable closeable : toClose.reversed()) {
            closeable.close();
        }
    }

    private TieredBlobStore tiered(Path disk, long diskBytes) throws IOException {
        TieredBlobStore store = new TieredBlobStore(remote, new TieredBlobStore.Settings(4L * MIB, MIB, Optional.of(disk),
                diskBytes, Duration.ofSeconds(2)));
        toClose.add(store);
        return store;
    }

    private BlobKey putRemote(String name, long dataSeed, int size) throws IOException {
        BlobKey key = BlobKey.of(name);
        origin.put(key, SeededBytes.stream(dataSeed, size), size, WriteMode.OVERWRITE);
        return key;
    }

    private static String sha256(BlobStore store, BlobKey key, ByteRange range) throws IOException {
        try (InputStream in = store.open(key, range)) {
            return SeededBytes.sha256(in);
        }
    }

    private static TierStats stats(TieredBlobStore store, Tier tier) {
        return store.stats().stream().filter(s -> s.tier() == tier).findFirst().orElseThrow();
    }

    private String note(String what) {
        return what + " (seed " + seed + ")";
    }

    // ---------------------------------------------------------------- other writers of the remote

    @Test
    void writesAndDeletesAreAnnouncedAndAForgottenKeyIsReadFromTheRemoteAgain() throws IOException {
        List<BlobKey> announced = new java.util.concurrent.CopyOnWriteArrayList<>();
        tiers.announceWritesTo(announced::addAll);
        BlobKey small = BlobKey.of("small");
        tiers.put(small, SeededBytes.stream(seed, SMALL), SMALL, WriteMode.OVERWRITE);
        BlobKey big = putRemote("big", seed, BIG);
        assertThat(sha256(tiers, big, ByteRange.ALL)).isEqualTo(SeededBytes.sha256(seed, BIG));

        // Another writer of the remote replaces both behind the tiers' back.
        putRemote("small", seed + 1, SMALL);
        putRemote("big", seed + 1, BIG);
        assertThat(sha256(tiers, small, ByteRange.ALL)).as(note("still the tier's copy")).isEqualTo(SeededBytes.sha256(seed, SMALL));

        tiers.forget(small);
        tiers.forgetAll();

        assertThat(sha256(tiers, small, ByteRange.ALL)).as(note("forgotten")).isEqualTo(SeededBytes.sha256(seed + 1, SMALL));
        assertThat(sha256(tiers, big, ByteRange.ALL)).as(note("dropped with the disk tier")).isEqualTo(SeededBytes.sha256(seed + 1, BIG));
        tiers.delete(small);
        tiers.deleteAll(List.of(big));
        assertThat(announced).containsExactly(small, small, big);
    }

    @Test
    void forgettingEverythingDeletesTheDiskTiersFilesSoARestartDoesNotServeThem() throws IOException {
        BlobKey key = putRemote("big", seed, BIG);
        sha256(tiers, key, ByteRange.ALL);
        assertThat(stats(tiers, Tier.DISK).sizeBytes()).isEqualTo(BIG);

        tiers.forgetAll();

        assertThat(stats(tiers, Tier.DISK).sizeBytes()).isZero();
        try (Stream<Path> files = Files.walk(temp.resolve("disk"))) {
            assertThat(files.filter(Files::isRegularFile)).isEmpty();
        }
    }

    // ---------------------------------------------------------------- filling

    @Test
    void aReadFillsTheFasterTiersAndTheNextReadIsServedFromMemory() throws IOException {
        BlobKey key = putRemote("small", seed, SMALL);

        assertThat(sha256(tiers, key, ByteRange.ALL)).as(note("first read")).isEqualTo(SeededBytes.sha256(seed, SMALL));
        remote.close();

        assertThat(sha256(tiers, key, ByteRange.ALL)).as(note("second read, remote hung")).isEqualTo(SeededBytes.sha256(seed, SMALL));
        assertThat(tiers.stat(key)).get().extracting(info -> info.size()).isEqualTo((long) SMALL);
        assertThat(stats(tiers, Tier.MEMORY)).extracting(TierStats::hits, TierStats::fills).containsExactly(1L, 1L);
        assertThat(stats(tiers, Tier.DISK)).extracting(TierStats::fills, TierStats::sizeBytes).containsExactly(1L, (long) SMALL);
        assertThat(stats(tiers, Tier.REMOTE)).extracting(TierStats::hits, TierStats::degraded).containsExactly(1L, 0L);
    }

    @Test
    void aBigBlobFillsOnlyTheDiskTierWhichServesWholeAndRangedReads() throws IOException {
        BlobKey key = putRemote("big", seed, BIG);
        sha256(tiers, key, ByteRange.ALL);
        remote.close();

        assertThat(sha256(tiers, key, ByteRange.ALL)).as(note("whole")).isEqualTo(SeededBytes.sha256(seed, BIG));
        try (InputStream in = tiers.open(key, new ByteRange(MIB + 3, 10))) {
            assertThat(in.readAllBytes()).as(note("range")).isEqualTo(Arrays.copyOfRange(SeededBytes.array(seed, BIG), MIB + 3, MIB + 13));
        }
        assertThat(stats(tiers, Tier.MEMORY).fills()).isZero();
        assertThat(stats(tiers, Tier.DISK)).extracting(TierStats::hits, TierStats::fills).containsExactly(2L, 1L);
    }

    @Test
    void aRangedReadFromTheRemoteFillsNothing() throws IOException {
        BlobKey key = putRemote("ranged", seed, SMALL);

        try (InputStream in = tiers.open(key, new ByteRange(10, 100))) {
            assertThat(in.readAllBytes()).hasSize(100);
        }

        assertThat(stats(tiers, Tier.MEMORY).fills()).isZero();
        assertThat(stats(tiers, Tier.DISK).fills()).isZero();
        assertThat(stats(tiers, Tier.REMOTE).hits()).isEqualTo(1);
    }

    @Test
    void afterARestartABackgroundScanFindsTheDiskTierAndASmallDiskHitFillsMemory() throws Exception {
        BlobKey key = putRemote("kept/over/restart", seed, SMALL);
        sha256(tiers, key, ByteRange.ALL);
        tiers.close();
        remote.close();

        TieredBlobStore restarted = tiered(temp.resolve("disk"), 8L * MIB);
        await().atMost(Duration.ofSeconds(30)).until(() -> stats(restarted, Tier.DISK).sizeBytes() == SMALL);

        assertThat(sha256(restarted, key, ByteRange.ALL)).as(note("after restart")).isEqualTo(SeededBytes.sha256(seed, SMALL));
        assertThat(sha256(restarted, key, ByteRange.ALL)).as(note("again")).isEqualTo(SeededBytes.sha256(seed, SMALL));
        assertThat(stats(restarted, Tier.DISK).hits()).isEqualTo(1);
        assertThat(stats(restarted, Tier.MEMORY)).extracting(TierStats::fills, TierStats::hits).containsExactly(1L, 1L);
        assertThat(restarted.stat(key)).get().extracting(info -> info.lastModified())
                .isEqualTo(origin.stat(key).orElseThrow().lastModified());
    }

    @Test
    void theDiskTierStaysWithinItsBytesEvictingTheLeastRecentlyUsed() throws IOException {
        TieredBlobStore small = tiered(temp.resolve("small-disk"), 3L * MIB);
        List<BlobKey> keys = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            keys.add(putRemote("lru/" + i, seed + i, MIB + 1));
            small.prefetch(keys.get(i));
        }

        assertThat(stats(small, Tier.DISK).sizeBytes()).isLessThanOrEqualTo(3L * MIB).isEqualTo(2L * (MIB + 1));
        remote.close();
        for (int i = 3; i < 5; i++) {
            assertThat(sha256(small, keys.get(i), ByteRange.ALL)).as(note("recent " + i)).isEqualTo(SeededBytes.sha256(seed + i, MIB + 1));
        }
        assertThatThrownBy(() -> small.open(keys.get(0), ByteRange.ALL)).isInstanceOf(BackendUnavailableException.class);
    }

    @Test
    void prefetchWarmsTheLocalTiersOnceWithoutDecodingAnything() throws IOException {
        BlobKey key = putRemote("warm/me", seed, SMALL);

        assertThat(tiers.prefetch(key)).isTrue();
        assertThat(tiers.prefetch(key)).as("already local").isFalse();
        assertThat(remote.opens).hasValue(1);
        assertThatThrownBy(() -> tiers.prefetch(BlobKey.of("warm/missing"))).isInstanceOf(BlobNotFoundException.class);
        assertThat(stats(tiers, Tier.REMOTE).misses()).isEqualTo(1);
    }

    // ---------------------------------------------------------------- writes

    @Test
    void writesGoThroughToTheRemoteAndSmallOnesAreKeptInMemory() throws IOException {
        BlobKey small = BlobKey.of("written/small");
        BlobKey big = BlobKey.of("written/big");

        tiers.put(small, SeededBytes.stream(seed, SMALL), -1, WriteMode.CREATE_NEW);
        tiers.put(big, SeededBytes.stream(seed, BIG), BIG, WriteMode.CREATE_NEW);

        assertThat(SeededBytes.sha256(origin.open(small, ByteRange.ALL))).isEqualTo(SeededBytes.sha256(seed, SMALL));
        assertThat(SeededBytes.sha256(origin.open(big, ByteRange.ALL))).isEqualTo(SeededBytes.sha256(seed, BIG));
        remote.close();
        assertThat(sha256(tiers, small, ByteRange.ALL)).as(note("small from memory")).isEqualTo(SeededBytes.sha256(seed, SMALL));
        assertThatThrownBy(() -> tiers.open(big, ByteRange.ALL)).as("a big blob is not kept").isInstanceOf(BackendUnavailableException.class);
    }

    @ParameterizedTest
    @ValueSource(ints = {SMALL, BIG})
    void anOverwriteAndADeleteReachEveryTier(int size) throws IOException {
        BlobKey key = putRemote("changed", seed, size);
        tiers.prefetch(key);

        tiers.put(key, SeededBytes.stream(seed + 1, size), size, WriteMode.OVERWRITE);
        assertThat(sha256(tiers, key, ByteRange.ALL)).as(note("overwritten")).isEqualTo(SeededBytes.sha256(seed + 1, size));

        assertThat(tiers.delete(key)).isTrue();
        assertThat(tiers.stat(key)).isEmpty();
        assertThatThrownBy(() -> tiers.open(key, ByteRange.ALL)).isInstanceOf(BlobNotFoundException.class);
        assertThat(stats(tiers, Tier.DISK).sizeBytes()).isZero();
    }

    // ---------------------------------------------------------------- a slow or failing remote

    @Test
    void aHangingRemoteIsDegradedNotAMissAndFailsFast() {
        BlobKey key = BlobKey.of("remote/hangs");
        remote.close();

        assertThatThrownBy(() -> tiers.open(key, ByteRange.ALL)).isInstanceOf(BackendUnavailableException.class)
                .hasMessageContaining(key.value()).hasMessageContaining("did not answer");
        assertThatThrownBy(() -> tiers.stat(key)).isInstanceOf(BackendUnavailableException.class);
        assertThatThrownBy(() -> tiers.open(key, new ByteRange(5, 5))).isInstanceOf(BackendUnavailableException.class);

        assertThat(stats(tiers, Tier.REMOTE)).extracting(TierStats::degraded, TierStats::misses).containsExactly(3L, 0L);
    }

    @Test
    void aHangingRemoteNeverBlocksAReadThatALocalTierServes() throws IOException {
        BlobKey small = putRemote("local/small", seed, SMALL);
        BlobKey big = putRemote("local/big", seed + 1, BIG);
        tiers.prefetch(small);
        tiers.prefetch(big);
        remote.close();

        assertThat(tiers.stat(small)).isPresent();
        assertThat(tiers.stat(big)).isPresent();
        assertThat(sha256(tiers, small, ByteRange.ALL)).isEqualTo(SeededBytes.sha256(seed, SMALL));
        assertThat(sha256(tiers, big, ByteRange.ALL)).isEqualTo(SeededBytes.sha256(seed + 1, BIG));
        assertThat(stats(tiers, Tier.REMOTE).degraded()).isZero();
    }

    @Test
    void aTrippedCircuitBreakerBelowStillLetsTheLocalTiersServe() throws IOException {
        AtomicInteger failures = new AtomicInteger();
        ForwardingBlobStore failing = new ForwardingBlobStore(origin) {
            @Override
            public Optional<BlobInfo> stat(BlobKey key) throws IOException {
                if (failures.get() > 0) {
                    failures.decrementAndGet();
                    throw new IOException("connection reset by the backend");
                }
                return inner.stat(key);
            }
        };
        TieredBlobStore guarded = new TieredBlobStore(new CircuitBreakingBlobStore(failing, 1,
                Duration.ofHours(1), new MovableClock()), new TieredBlobStore.Settings(4L * MIB, MIB, Optional.of(temp.resolve("guarded")),
                8L * MIB, Duration.ofSeconds(2)));
        toClose.add(guarded);
        BlobKey local = putRemote("guarded/local", seed, BIG);
        BlobKey remoteOnly = putRemote("guarded/remote-only", seed + 1, SMALL);
        guarded.prefetch(local);
        failures.set(1);

        assertThatThrownBy(() -> guarded.open(remoteOnly, ByteRange.ALL)).isInstanceOf(BackendUnavailableException.class)
                .hasMessageContaining("connection reset");
        assertThatThrownBy(() -> guarded.open(remoteOnly, ByteRange.ALL)).as("the breaker is open")
                .isInstanceOf(BackendUnavailableException.class).hasMessageContaining("failing fast");

        assertThat(sha256(guarded, local, ByteRange.ALL)).as(note("local, breaker open")).isEqualTo(SeededBytes.sha256(seed, BIG));
        assertThat(stats(guarded, Tier.REMOTE)).extracting(TierStats::degraded, TierStats::misses).containsExactly(2L, 0L);
    }

    @ParameterizedTest
    @ValueSource(ints = {SMALL, BIG})
    void aRemoteDyingMidReadFailsTheReadClearlyAndCachesNothing(int size) throws Exception {
        BlobKey key = putRemote("dies/mid-read", seed, size);
        remote.streams = in -> new FailingInputStream(in, size / 2);

        assertThatThrownBy(() -> sha256(tiers, key, ByteRange.ALL)).isInstanceOf(IOException.class)
                .hasMessage(FailingInputStream.MESSAGE);

        assertNothingLocal();
        remote.streams = UnaryOperator.identity();
        assertThat(sha256(tiers, key, ByteRange.ALL)).as(note("healed")).isEqualTo(SeededBytes.sha256(seed, size));
        assertThat(stats(tiers, Tier.REMOTE).hits()).isEqualTo(2);
    }

    @ParameterizedTest
    @ValueSource(ints = {SMALL, BIG})
    void aRemoteStreamEndingShortIsAnErrorNeverATruncatedBlob(int size) throws Exception {
        BlobKey key = putRemote("ends/short", seed, size);
        remote.streams = in -> new ByteArrayInputStream(readNBytes(in, size - 1));

        assertThatThrownBy(() -> sha256(tiers, key, ByteRange.ALL)).isInstanceOf(IOException.class)
                .hasMessageContaining(key.value()).hasMessageContaining((size - 1) + " of its " + size + " bytes");

        assertNothingLocal();
    }

    private static byte[] readNBytes(InputStream in, int n) {
        try (in) {
            return in.readNBytes(n);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    @Test
    void aCallerThatStopsEarlyLeavesNothingBehind() throws Exception {
        BlobKey key = putRemote("stopped/early", seed, BIG);

        try (InputStream in = tiers.open(key, ByteRange.ALL)) {
            in.readNBytes(MIB);
        }

        assertNothingLocal();
    }

    private void assertNothingLocal() throws IOException {
        assertThat(stats(tiers, Tier.MEMORY).fills()).as("memory fills").isZero();
        assertThat(stats(tiers, Tier.DISK)).extracting(TierStats::fills, TierStats::sizeBytes).containsExactly(0L, 0L);
        assertThat(stagingFiles(temp.resolve("disk"))).as("staging files").isEmpty();
    }

    private static List<Path> stagingFiles(Path disk) throws IOException {
        try (Stream<Path> files = Files.walk(disk)) {
            return files.filter(file -> file.getFileName().toString().endsWith(".partial")).toList();
        }
    }

    // ---------------------------------------------------------------- races with the same entry

    @ParameterizedTest
    @ValueSource(ints = {SMALL, BIG})
    void aDeleteRacingALocalReadLetsItFinishWithTheWholeBlob(int size) throws IOException {
        BlobKey key = putRemote("raced/delete", seed, size);
        tiers.prefetch(key);

        try (InputStream reader = tiers.open(key, ByteRange.ALL)) {
            byte[] head = reader.readNBytes(size / 3);
            assertThat(tiers.delete(key)).isTrue();
            assertThat(SeededBytes.sha256(new SequenceInputStream(new ByteArrayInputStream(head), reader)))
                    .as(note("the read that began before the delete")).isEqualTo(SeededBytes.sha256(seed, size));
        }
        assertThatThrownBy(() -> tiers.open(key, ByteRange.ALL)).isInstanceOf(BlobNotFoundException.class);
    }

    @Test
    void anEvictionRacingAReadLetsItFinishWithTheWholeBlob() throws IOException {
        TieredBlobStore small = tiered(temp.resolve("small-disk"), 3L * MIB);
        BlobKey first = putRemote("evicted/first", seed, BIG);
        BlobKey second = putRemote("evicted/second", seed + 1, BIG);
        small.prefetch(first);

        try (InputStream reader = small.open(first, ByteRange.ALL)) {
            byte[] head = reader.readNBytes(MIB);
            small.prefetch(second);
            assertThat(stats(small, Tier.DISK).sizeBytes()).as("the first was evicted").isEqualTo(BIG);
            assertThat(SeededBytes.sha256(new SequenceInputStream(new ByteArrayInputStream(head), reader)))
                    .as(note("the read that began before the eviction")).isEqualTo(SeededBytes.sha256(seed, BIG));
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {SMALL, BIG})
    void aFillRacingAnOverwriteNeverPublishesTheOldBlob(int size) throws IOException {
        BlobKey key = putRemote("raced/overwrite", seed, size);

        try (InputStream reader = tiers.open(key, ByteRange.ALL)) {
            byte[] head = reader.readNBytes(size / 3);
            tiers.put(key, SeededBytes.stream(seed + 1, size), size, WriteMode.OVERWRITE);
            assertThat(SeededBytes.sha256(new SequenceInputStream(new ByteArrayInputStream(head), reader)))
                    .as(note("the old blob, read whole")).isEqualTo(SeededBytes.sha256(seed, size));
        }

        assertThat(sha256(tiers, key, ByteRange.ALL)).as(note("the new blob")).isEqualTo(SeededBytes.sha256(seed + 1, size));
        assertThat(sha256(tiers, key, ByteRange.ALL)).as(note("the new blob, again")).isEqualTo(SeededBytes.sha256(seed + 1, size));
    }

    // ---------------------------------------------------------------- a full local disk

    @Test
    void aFullLocalDiskDegradesTheDiskTierWhileReadsSucceedFromTheRemote() throws Exception {
        Path mount = Files.createDirectories(temp.resolve("tmpfs"));
        Process mounting = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mount.toString())
                .redirectErrorStream(true).start();
        String output = new String(mounting.getInputStream().readAllBytes());
        Assumptions.assumeTrue(mounting.waitFor(60, TimeUnit.SECONDS) && mounting.exitValue() == 0,
                "skipped: mounting a 1 MiB tmpfs is not permitted here (needs root): " + output.strip());
        toClose.add(() -> new ProcessBuilder("umount", mount.toString()).inheritIO().start().waitFor(60, TimeUnit.SECONDS));
        TieredBlobStore full = tiered(mount, 64L * MIB);
        BlobKey fits = putRemote("full/fits", seed, SMALL);
        BlobKey big = putRemote("full/too-big", seed + 1, BIG);

        assertThat(sha256(full, fits, ByteRange.ALL)).as(note("fits")).isEqualTo(SeededBytes.sha256(seed, SMALL));
        assertThat(sha256(full, big, ByteRange.ALL)).as(note("does not fit")).isEqualTo(SeededBytes.sha256(seed + 1, BIG));
        assertThat(sha256(full, big, ByteRange.ALL)).as(note("does not fit, again")).isEqualTo(SeededBytes.sha256(seed + 1, BIG));

        assertThat(stats(full, Tier.DISK)).extracting(TierStats::fills, TierStats::sizeBytes).containsExactly(1L, (long) SMALL);
        assertThat(stats(full, Tier.DISK).degraded()).isEqualTo(2);
        assertThat(stats(full, Tier.REMOTE)).extracting(TierStats::hits, TierStats::degraded).containsExactly(3L, 0L);
        assertThat(stagingFiles(mount)).as("staging files").isEmpty();
    }
}
