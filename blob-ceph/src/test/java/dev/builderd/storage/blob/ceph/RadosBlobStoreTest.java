package dev.builderd.storage.blob.ceph;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.ParallelIo;
import dev.builderd.storage.blob.RemoteTimeouts;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.testing.CephServer;
import dev.builderd.storage.testing.SeededBytes;
import java.io.File;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What the Ceph store does beyond the contract: its object layout, races and orphans. */
class RadosBlobStoreTest {

    private static final int STRIPE = 256 << 10;

    private CephServer ceph;
    private String namespace;
    private RadosBlobStore store;

    @BeforeEach
    void connect() throws Exception {
        ceph = CephServer.shared();
        namespace = ceph.newPoolNamespace();
        store = new RadosBlobStore(settings(namespace));
    }

    @AfterEach
    void close() {
        store.close();
    }

    private CephSettings settings(String ns) {
        return new CephSettings(ceph.monitors(), ceph.pool(), "admin", Optional.empty(), Optional.of(ceph.confFile()), ns,
                STRIPE, new ParallelIo(4, 5 << 20, 64 << 10), new RemoteTimeouts(Duration.ofSeconds(10), Duration.ofSeconds(30), 1));
    }

    @Test
    void aBlobIsOneHeadAndItsStripes(@TempDir Path tmp) throws Exception {
        BlobKey key = BlobKey.of("layout/blob");
        int size = 4 * STRIPE + 1;
        store.put(key, SeededBytes.stream(1, size), size, WriteMode.CREATE_NEW);

        List<String> objects = rados(tmp, "ls").lines().sorted().toList();

        assertThat(objects).hasSize(6);
        assertThat(objects).filteredOn(o -> o.startsWith("d/")).hasSize(5)
                .allSatisfy(o -> assertThat(o).matches("d/[0-9a-f]{32}/[0-9a-f]{32}/[0-4]"));
        assertThat(objects).filteredOn(o -> !o.startsWith("d/")).containsExactly(RadosBlobStore.headName(key));
        String last = objects.stream().filter(o -> o.endsWith("/4")).findFirst().orElseThrow();
        assertThat(rados(tmp, "stat", last)).contains("size 1");
        String first = objects.stream().filter(o -> o.endsWith("/0")).findFirst().orElseThrow();
        assertThat(rados(tmp, "stat", first)).contains("size " + STRIPE);
    }

    @Test
    void longKeysGetHashedHeadNamesWithinTheOsdLimit() {
        BlobKey shortKey = BlobKey.of("a".repeat(199));
        BlobKey longKey = BlobKey.of("b".repeat(200));
        // Close to the longest key there is, in three-byte characters: 11 segments of 240 bytes each (a segment holds at most 255).
        BlobKey longest = BlobKey.of(String.join("/", java.util.Collections.nCopies(11, "日".repeat(80))));

        assertThat(RadosBlobStore.headName(shortKey)).startsWith("k/");
        assertThat(RadosBlobStore.headName(longKey)).startsWith("h/").hasSize(66);
        assertThat(RadosBlobStore.headName(longest)).startsWith("h/").hasSize(66);
        assertThat(RadosBlobStore.stripeName(longest, "0".repeat(32), 123_456)).hasSizeLessThan(100);
    }

    @Test
    void racingOverwritesLeaveOneWholeBlobAndNoStripesBehind() throws Exception {
        BlobKey key = BlobKey.of("race/overwrite");
        int writers = 6;
        int size = 3 * STRIPE + 17;
        ExecutorService threads = Executors.newFixedThreadPool(writers);
        try {
            List<Future<?>> puts = new ArrayList<>();
            for (int i = 0; i < writers; i++) {
                long seed = 100 + i;
                puts.add(threads.submit(() -> store.put(key, SeededBytes.stream(seed, size), size, WriteMode.OVERWRITE)));
            }
            for (Future<?> put : puts) {
                put.get(2, TimeUnit.MINUTES);
            }
        } finally {
            threads.shutdownNow();
        }

        Map<String, Long> bySha = new HashMap<>();
        for (int i = 0; i < writers; i++) {
            bySha.put(SeededBytes.sha256(100 + i, size), 100L + i);
        }
        try (InputStream in = store.open(key, ByteRange.ALL)) {
            assertThat(bySha).containsKey(SeededBytes.sha256(in));
        }
        assertThat(store.orphanedStripes()).isEmpty();
    }

    @Test
    void stripesOfAPutThatDiedBeforePublishingAreOrphansAndInvisible(@TempDir Path tmp) throws Exception {
        BlobKey key = BlobKey.of("crashed/put");
        String stripe = RadosBlobStore.stripeName(key, "f".repeat(32), 0);
        Path data = Files.write(tmp.resolve("stripe"), new byte[1000]);
        rados(tmp, "put", stripe, data.toString());

        assertThat(store.orphanedStripes()).containsExactly(stripe);
        assertThat(store.list("", null).hasNext()).isFalse();
        assertThat(store.stat(key)).isEmpty();
    }

    @Test
    void namespacesKeepStoresApart() throws Exception {
        BlobKey key = BlobKey.of("shared/name");
        store.put(key, SeededBytes.stream(1, 10), 10, WriteMode.CREATE_NEW);

        try (RadosBlobStore other = new RadosBlobStore(settings(ceph.newPoolNamespace()))) {
            assertThat(other.stat(key)).isEmpty();
            assertThat(other.list("", null).hasNext()).isFalse();
            other.put(key, SeededBytes.stream(2, 20), 20, WriteMode.CREATE_NEW);
        }
        assertThat(store.stat(key)).get().extracting(i -> i.size()).isEqualTo(10L);
    }

    @Test
    void aMissingPoolFailsNamingIt() {
        CephSettings wrong = new CephSettings(ceph.monitors(), "no-such-pool", "admin", Optional.empty(),
                Optional.of(ceph.confFile()), "", STRIPE, ParallelIo.defaults(),
                new RemoteTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(5), 1));

        assertThatThrownBy(() -> new RadosBlobStore(wrong).close()).hasMessageContaining("no-such-pool");
    }

    @Test
    void aMonitorThatNeverAnswersFailsWithinTheConnectTimeout() throws Exception {
        try (java.net.ServerSocket silent = new java.net.ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
            CephSettings settings = new CephSettings("127.0.0.1:" + silent.getLocalPort(), ceph.pool(), "admin",
                    Optional.empty(), Optional.empty(), "", STRIPE, ParallelIo.defaults(),
                    new RemoteTimeouts(Duration.ofSeconds(2), Duration.ofSeconds(2), 1));
            long started = System.nanoTime();

            assertThatThrownBy(() -> new RadosBlobStore(settings).close())
                    .isInstanceOf(java.io.IOException.class)
                    .hasMessageContaining("127.0.0.1:" + silent.getLocalPort());

            // Not a timing assertion of the store's speed: a bound that says "it did not hang".
            assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(60));
        }
    }

    private String rados(Path tmp, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("rados", "-c", ceph.confFile().toString(), "-p", ceph.pool(), "-N", namespace));
        command.addAll(List.of(args));
        Path output = Files.createTempFile(tmp, "rados", ".out");
        Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
        String text = Files.readString(output);
        assertThat(process.exitValue()).as(String.join(" ", command) + ": " + text).isZero();
        return text;
    }
}
