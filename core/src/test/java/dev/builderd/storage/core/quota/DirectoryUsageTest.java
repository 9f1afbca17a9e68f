package dev.builderd.storage.core.quota;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assumptions.assumeThat;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every sum is compared with GNU {@code du} run on the same tree in the same test: allocated
 * bytes with {@code du -sB1}, apparent bytes with {@code du -sb}, both exact.
 */
class DirectoryUsageTest {

    private static final long MIB = 1024 * 1024;

    @TempDir
    Path root;
    @TempDir
    Path outside;
    DirectoryUsage usage;

    @BeforeEach
    void start() {
        usage = new DirectoryUsage(3);
    }

    @AfterEach
    void stop() throws IOException {
        usage.close();
        assertThat(openDescriptorsUnder(root)).as("descriptors left open under the tree").isEmpty();
    }

    @Test
    void regularFilesMatchDuAllocatedAndApparent() throws IOException {
        Random random = new Random(42);
        int[] sizes = {0, 1, 511, 512, 4095, 4096, 4097, 65_536, 1_000_000, 3 * 1024 * 1024 + 17};
        for (int d = 0; d < 4; d++) {
            Path dir = Files.createDirectories(root.resolve("src/module-" + d + "/deep/er"));
            for (int size : sizes) {
                byte[] bytes = new byte[size];
                random.nextBytes(bytes);
                Files.write(dir.resolve("f" + size), bytes);
            }
        }
        Files.createFile(root.resolve("empty"));

        DirectoryUsage.Result result = usage.measure(List.of(root));

        assertMatchesDu(result, root);
        assertThat(result.files()).isEqualTo(4 * sizes.length + 1);
        assertThat(result.directories()).isEqualTo(1 + 1 + 4 * 3);
        assertThat(result.symlinks()).isZero();
        assertThat(result.apparentBytes()).isGreaterThan(4L * IntStream.of(sizes).sum());
        assertThat(result.allocatedByRoot()).containsExactly(entry(root, result.allocatedBytes()));
        assertThat(result.vanished() + result.unreadable() + result.mountPointsSkipped()).isZero();
    }

    @Test
    void aSparseFileCountsOnlyTheBlocksItOccupies() throws IOException {
        Path sparse = root.resolve("disk.img");
        try (RandomAccessFile file = new RandomAccessFile(sparse.toFile(), "rw")) {
            file.setLength(1024 * MIB);
            file.seek(512 * MIB);
            file.write(new byte[4096]);
        }

        DirectoryUsage.Result result = usage.measure(List.of(root));

        assertMatchesDu(result, root);
        assertThat(result.apparentBytes()).isGreaterThan(1024 * MIB);
        assertThat(result.allocatedBytes()).isLessThan(MIB);
    }

    @Test
    void hardLinksAreCountedOnceWithinARootAndAcrossRoots() throws IOException {
        Path a = Files.createDirectories(root.resolve("a"));
        Path b = Files.createDirectories(root.resolve("b"));
        Path big = Files.write(a.resolve("big"), new byte[(int) (4 * MIB)]);
        Files.createLink(a.resolve("big-again"), big);
        Files.createDirectories(a.resolve("sub"));
        Files.createLink(a.resolve("sub/big-third"), big);
        Files.createLink(b.resolve("big-in-b"), big);
        Files.write(b.resolve("own"), new byte[10_000]);

        DirectoryUsage.Result onlyA = usage.measure(List.of(a));
        DirectoryUsage.Result both = usage.measure(List.of(a, b));

        assertMatchesDu(onlyA, a);
        assertThat(onlyA.files()).isEqualTo(1);
        assertThat(onlyA.hardLinksCountedOnce()).isEqualTo(1);
        assertMatchesDu(both, a, b);
        assertThat(both.files()).isEqualTo(2);
        assertThat(both.hardLinksCountedOnce()).isEqualTo(1);
        assertThat(both.allocatedBytes()).isLessThan(5 * MIB);
        assertThat(both.allocatedByRoot().values().stream().mapToLong(Long::longValue).sum())
                .isEqualTo(both.allocatedBytes());
    }

    @Test
    void aSymlinkToABigFileOutsideIsCountedAsTheLinkOnly() throws IOException {
        Path big = Files.write(outside.resolve("big"), new byte[(int) (8 * MIB)]);
        Files.createDirectories(root.resolve("ws"));
        Files.createSymbolicLink(root.resolve("ws/escape"), big);
        Files.createSymbolicLink(root.resolve("ws/escape-dir"), outside);
        Files.writeString(root.resolve("ws/own"), "own");

        DirectoryUsage.Result result = usage.measure(List.of(root));

        assertMatchesDu(result, root);
        assertThat(result.symlinks()).isEqualTo(2);
        assertThat(result.files()).isEqualTo(1);
        assertThat(result.allocatedBytes()).isLessThan(MIB);
    }

    @Test
    void aRootThatIsALinkIsNotFollowedAndAFileRootIsCounted() throws IOException {
        Files.write(outside.resolve("big"), new byte[(int) (8 * MIB)]);
        Path linkRoot = Files.createSymbolicLink(root.resolve("link-to-outside"), outside);
        Path fileRoot = Files.write(root.resolve("file"), new byte[100_000]);

        DirectoryUsage.Result link = usage.measure(List.of(linkRoot));
        DirectoryUsage.Result file = usage.measure(List.of(fileRoot));

        assertMatchesDu(link, linkRoot);
        assertThat(link.symlinks()).isEqualTo(1);
        assertThat(link.directories()).isZero();
        assertMatchesDu(file, fileRoot);
        assertThat(file.files()).isEqualTo(1);
    }

    @Test
    void symlinkLoopsEndTheWalk() throws IOException {
        Path dir = Files.createDirectories(root.resolve("d/e"));
        Files.createSymbolicLink(root.resolve("a"), root.resolve("b"));
        Files.createSymbolicLink(root.resolve("b"), root.resolve("a"));
        Files.createSymbolicLink(dir.resolve("up"), root);
        Files.createSymbolicLink(dir.resolve("self"), Path.of("."));
        Files.writeString(dir.resolve("x"), "x");

        DirectoryUsage.Result result = usage.measure(List.of(root, root.resolve("a")));

        assertMatchesDu(result, root);
        assertThat(result.symlinks()).isEqualTo(4);
        assertThat(result.directories()).isEqualTo(3);
    }

    @Test
    void aMissingRootCountsAsZero() throws IOException {
        Files.writeString(Files.createDirectories(root.resolve("present")).resolve("f"), "data");
        Path missing = root.resolve("missing");
        Path belowAFile = root.resolve("present/f/below");

        DirectoryUsage.Result result = usage.measure(List.of(missing, root.resolve("present"), belowAFile));

        assertMatchesDu(result, root.resolve("present"));
        assertThat(result.allocatedByRoot()).containsExactly(entry(missing, 0L),
                entry(root.resolve("present"), result.allocatedBytes()), entry(belowAFile, 0L));
        assertThat(usage.measure(List.of(missing)))
                .isEqualTo(new DirectoryUsage.Result(0, 0, 0, 0, 0, 0, 0, 0, 0, Map.of(missing, 0L)));
        assertThat(usage.measure(List.of()).allocatedBytes()).isZero();
    }

    @Test
    void aTreeDeeperThanPathMaxIsWalkedWhole() throws IOException, InterruptedException {
        // Built by renames near the top, since no path below the bottom fits in PATH_MAX (4096).
        String longName = "n".repeat(200);
        Path chain = root.resolve("chain");
        Files.write(Files.createDirectories(chain).resolve("bottom"), new byte[(int) MIB]);
        int depth = 30;
        try {
            for (int i = 0; i < depth; i++) {
                Path wrapper = Files.createDirectory(root.resolve("wrapper"));
                Files.move(chain, wrapper.resolve(longName));
                Files.move(wrapper, chain);
            }
            DirectoryUsage.Result result = usage.measure(List.of(root));

            assertThat(result.directories()).isEqualTo(1 + 1 + depth);
            assertThat(result.files()).isEqualTo(1);
            assertThat(result.allocatedBytes()).isGreaterThan(MIB);
            assertMatchesDu(result, root);
            assertThat(result.unreadable()).isZero();
        } finally {
            // JUnit's clean-up resolves absolute paths, which cannot reach the bottom; rm can.
            assertThat(new ProcessBuilder("rm", "-rf", chain.toString()).start().waitFor()).isZero();
        }
    }

    @Test
    void aTreeChangingWhileItIsMeasuredGivesAPlausibleResultAndThenTheExactOne() throws Exception {
        int directories = 100;
        int filesPerDirectory = 50;
        for (int d = 0; d < directories; d++) {
            Path dir = Files.createDirectories(root.resolve("d" + d));
            for (int f = 0; f < filesPerDirectory; f++) {
                Files.writeString(dir.resolve("f" + f), "content of file " + f + " in directory " + d);
            }
        }
        DirectoryUsage.Result before = usage.measure(List.of(root));
        assertMatchesDu(before, root);

        AtomicBoolean deleting = new AtomicBoolean(true);
        CountDownLatch measuring = new CountDownLatch(1);
        ExecutorService deleter = Executors.newSingleThreadExecutor();
        Future<?> deletions = deleter.submit(() -> {
            try {
                measuring.await();
                // Whole directories (files first, then the directory), in an order the walk does not share.
                for (int d = directories - 1; d >= 0; d -= 2) {
                    Path dir = root.resolve("d" + d);
                    for (int f = 0; f < filesPerDirectory; f++) {
                        Files.delete(dir.resolve("f" + f));
                    }
                    Files.delete(dir);
                }
            } finally {
                deleting.set(false);
            }
            return null;
        });
        List<DirectoryUsage.Result> during = new ArrayList<>();
        do {
            measuring.countDown();
            during.add(usage.measure(List.of(root)));
        } while (deleting.get());
        deletions.get();
        deleter.shutdown();

        for (DirectoryUsage.Result result : during) {
            assertThat(result.allocatedBytes()).isBetween(0L, before.allocatedBytes());
            // The half that is never deleted is always counted whole.
            assertThat(result.files()).isBetween(filesPerDirectory * directories / 2L, before.files());
            assertThat(result.unreadable()).isZero();
        }
        DirectoryUsage.Result after = usage.measure(List.of(root));
        assertMatchesDu(after, root);
        assertThat(after.files()).isEqualTo(filesPerDirectory * directories / 2L);
        assertThat(after.vanished()).isZero();
    }

    @Test
    void manyRootsAreMeasuredInOneCallEachAttributedItsOwnBytes() throws Exception {
        List<Path> roots = new ArrayList<>();
        Random random = new Random(7);
        for (int build = 0; build < 40; build++) {
            for (String kind : List.of("workspace", "temp", "metadata")) {
                Path dir = Files.createDirectories(root.resolve("build-" + build).resolve(kind));
                roots.add(dir);
                for (int f = 0; f < random.nextInt(20); f++) {
                    Path sub = Files.createDirectories(dir.resolve("sub" + f % 3));
                    Files.write(sub.resolve("f" + f), new byte[random.nextInt(200_000)]);
                }
            }
        }

        DirectoryUsage.Result result = usage.measure(roots);

        assertMatchesDu(result, roots.toArray(Path[]::new));
        assertThat(result.allocatedByRoot()).hasSize(roots.size());
        for (Path dir : roots) {
            assertThat(result.allocatedByRoot().get(dir)).as(dir.toString()).isEqualTo(du(false, dir));
        }
        // The same instance, from several threads at once.
        ExecutorService callers = Executors.newFixedThreadPool(4);
        try {
            List<Future<DirectoryUsage.Result>> again = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                again.add(callers.submit(() -> usage.measure(roots)));
            }
            for (Future<DirectoryUsage.Result> future : again) {
                assertThat(future.get()).isEqualTo(result);
            }
        } finally {
            callers.shutdown();
        }
    }

    @Test
    void overlappingRootsAreCountedOnce() throws IOException {
        Path inner = Files.createDirectories(root.resolve("outer/inner"));
        Files.write(inner.resolve("f"), new byte[300_000]);
        Files.write(root.resolve("outer/g"), new byte[200_000]);

        DirectoryUsage.Result result = usage.measure(List.of(root.resolve("outer"), inner, inner));

        assertMatchesDu(result, root.resolve("outer"));
        assertThat(result.allocatedByRoot()).hasSize(2);
    }

    @Test
    void mountPointsBelowARootAreNeitherEnteredNorCounted() throws IOException, InterruptedException {
        Path tmpfs = Files.createDirectories(root.resolve("ws/tmpfs"));
        Path bind = Files.createDirectories(root.resolve("ws/shared-cache"));
        Files.write(Files.createDirectories(outside.resolve("cache")).resolve("layer"), new byte[(int) MIB]);
        Files.write(root.resolve("ws/own"), new byte[50_000]);
        assumeThat(run("mount", "-t", "tmpfs", "builderd-test", tmpfs.toString()))
                .as("mounting needs root (CAP_SYS_ADMIN); skipped otherwise").isZero();
        try {
            assertThat(run("mount", "--bind", outside.resolve("cache").toString(), bind.toString())).isZero();
            Files.write(tmpfs.resolve("on-tmpfs"), new byte[(int) MIB]);

            DirectoryUsage.Result result = usage.measure(List.of(root));

            assertThat(result.mountPointsSkipped()).isEqualTo(2);
            // du -x skips the tmpfs (another st_dev) but walks the bind mount of the same filesystem.
            List<String> sameFilesystemNoBind = List.of("-x", "--exclude=shared-cache");
            assertThat(result.allocatedBytes()).isEqualTo(du(false, sameFilesystemNoBind, root));
            assertThat(result.apparentBytes()).isEqualTo(du(true, sameFilesystemNoBind, root));
            assertThat(result.allocatedBytes()).isLessThan(MIB);
            // A root that is itself a mount point is measured: its filesystem is the one measured.
            assertMatchesDu(usage.measure(List.of(tmpfs)), tmpfs);
        } finally {
            run("umount", bind.toString());
            run("umount", tmpfs.toString());
        }
    }

    @Test
    void theCallsOfOldGlibcGiveTheSameResult() throws IOException {
        Files.write(Files.createDirectories(root.resolve("a/b")).resolve("f"), new byte[123_456]);
        Files.createSymbolicLink(root.resolve("a/link"), Path.of("b/f"));
        Files.createLink(root.resolve("a/hard"), root.resolve("a/b/f"));
        try (RandomAccessFile file = new RandomAccessFile(root.resolve("sparse").toFile(), "rw")) {
            file.setLength(100 * MIB);
            file.write(1);
        }

        try (DirectoryUsage legacy = new DirectoryUsage(2, true)) {
            DirectoryUsage.Result old = legacy.measure(List.of(root));
            assertThat(old).isEqualTo(usage.measure(List.of(root)));
            assertMatchesDu(old, root);
        }
    }

    @Test
    void anInterruptStopsTheWalk() throws IOException {
        Files.writeString(Files.createDirectories(root.resolve("a")).resolve("f"), "x");
        Thread.currentThread().interrupt();
        try {
            assertThatThrownBy(() -> usage.measure(List.of(root))).isInstanceOf(InterruptedIOException.class);
            assertThat(Thread.currentThread().isInterrupted()).isTrue();
        } finally {
            Thread.interrupted();
        }
        assertMatchesDu(usage.measure(List.of(root)), root);
    }

    @Test
    void aClosedInstanceRefusesToMeasure() {
        usage.close();
        assertThatThrownBy(() -> usage.measure(List.of(root))).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("closed");
    }

    @Test
    void parallelismMustBePositive() {
        assertThatThrownBy(() -> new DirectoryUsage(0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("parallelism");
    }

    // ---------------------------------------------------------------------------------------------

    private static Map.Entry<Path, Long> entry(Path path, long bytes) {
        return Map.entry(path, bytes);
    }

    /** Allocated bytes equal {@code du -scB1}, apparent bytes {@code du -scb}, over the same roots. */
    private static void assertMatchesDu(DirectoryUsage.Result result, Path... roots) throws IOException {
        assertThat(result.allocatedBytes()).as("allocated bytes against du -sB1").isEqualTo(du(false, roots));
        assertThat(result.apparentBytes()).as("apparent bytes against du -sb").isEqualTo(du(true, roots));
    }

    private static long du(boolean apparent, Path... roots) throws IOException {
        return du(apparent, List.of(), roots);
    }

    /**
     * The total of GNU du over {@code roots} ({@code -b} or {@code -B1}, and {@code options}),
     * which like the scanner counts a hard-linked inode once across them.
     */
    private static long du(boolean apparent, List<String> options, Path... roots) throws IOException {
        List<String> command = new ArrayList<>(List.of("du", "-sc", apparent ? "-b" : "-B1"));
        command.addAll(options);
        Stream.of(roots).map(Path::toString).forEach(command::add);
        Process process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            assertThat(process.waitFor()).as("%s exit status", command).isZero();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        String[] lines = out.strip().split("\n");
        String total = lines[lines.length - 1];
        assertThat(total).endsWith("\ttotal");
        return Long.parseLong(total.substring(0, total.indexOf('\t')));
    }

    private static int run(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        process.getInputStream().readAllBytes();
        return process.waitFor();
    }

    /** The descriptors of this JVM open on anything under {@code tree}. */
    private static List<String> openDescriptorsUnder(Path tree) throws IOException {
        List<String> open = new ArrayList<>();
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            for (Path fd : fds.toList()) {
                try {
                    String target = Files.readSymbolicLink(fd).toString();
                    if (target.startsWith(tree.toString())) {
                        open.add(fd.getFileName() + " -> " + target);
                    }
                } catch (IOException e) {
                    // closed meanwhile (the listing's own descriptor, for one)
                }
            }
        }
        return open;
    }
}
