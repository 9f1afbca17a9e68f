package dev.builderd.storage.bench;

import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Platform;
import dev.builderd.storage.core.quota.DirectoryUsage;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The Java side of {@code bench/run-scanner.sh}, which compares {@link DirectoryUsage} with GNU
 * {@code du} on the same tree. Modes:
 * <dl>
 * <dt>{@code tree DIR DIRECTORIES FILES_PER_DIRECTORY SEED}</dt>
 * <dd>creates the tree: small files of seeded random sizes (0 to 16 KiB) and contents</dd>
 * <dt>{@code once PARALLELISM ROOT}</dt>
 * <dd>one measurement in a fresh JVM (the script times the whole process, JVM start included);
 * prints {@code allocated apparent files directories}</dd>
 * <dt>{@code serve}</dt>
 * <dd>a JVM that stays warm: for each line {@code PARALLELISM ROOT} read from stdin it measures
 * and prints {@code wall_ns cpu_ns allocated apparent files directories}, timing only the
 * {@code measure} call; the CPU time is the whole process's ({@code CLOCK_PROCESS_CPUTIME_ID}:
 * all threads, to the nanosecond, where the JDK's own figure counts in 10 ms ticks)</dd>
 * </dl>
 */
public final class ScanBench {

    private ScanBench() {
    }

    public static void main(String[] args) throws IOException {
        switch (args.length == 0 ? "" : args[0]) {
            case "tree" -> tree(Path.of(args[1]), Integer.parseInt(args[2]), Integer.parseInt(args[3]),
                    Long.parseLong(args[4]));
            case "once" -> {
                try (DirectoryUsage usage = new DirectoryUsage(Integer.parseInt(args[1]))) {
                    System.out.println(summary(usage.measure(List.of(Path.of(args[2])))));
                }
            }
            case "serve" -> serve();
            default -> {
                System.err.println("usage: ScanBench tree DIR DIRECTORIES FILES_PER_DIRECTORY SEED"
                        + " | once PARALLELISM ROOT | serve");
                System.exit(2);
            }
        }
    }

    private static void tree(Path dir, int directories, int filesPerDirectory, long seed) throws IOException {
        Random random = new Random(seed);
        byte[] content = new byte[16 * 1024];
        random.nextBytes(content);
        for (int d = 0; d < directories; d++) {
            Path sub = Files.createDirectories(dir.resolve(String.format("dir-%04d", d)));
            for (int f = 0; f < filesPerDirectory; f++) {
                try (OutputStream out = Files.newOutputStream(sub.resolve("file-" + f + ".txt"))) {
                    out.write(content, random.nextInt(1024), random.nextInt(content.length - 1024));
                }
            }
        }
    }

    private static void serve() throws IOException {
        Map<Integer, DirectoryUsage> byParallelism = new HashMap<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try {
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                String[] words = line.trim().split(" ", 2);
                DirectoryUsage usage = byParallelism.computeIfAbsent(Integer.parseInt(words[0]), DirectoryUsage::new);
                List<Path> roots = List.of(Path.of(words[1]));
                long cpu = ProcessCpu.nanos();
                long start = System.nanoTime();
                DirectoryUsage.Result result = usage.measure(roots);
                long wall = System.nanoTime() - start;
                cpu = ProcessCpu.nanos() - cpu;
                System.out.println(wall + " " + cpu + " " + summary(result));
                System.out.flush();
            }
        } finally {
            byParallelism.values().forEach(DirectoryUsage::close);
        }
    }

    /** clock_gettime(CLOCK_PROCESS_CPUTIME_ID) of the C library. */
    private static final class ProcessCpu {
        private static final int CLOCK_PROCESS_CPUTIME_ID = 2;
        private static final Memory TIMESPEC = new Memory(16);

        static {
            Native.register(ProcessCpu.class, NativeLibrary.getInstance(Platform.C_LIBRARY_NAME));
        }

        private static native int clock_gettime(int clock, Memory timespec);

        static synchronized long nanos() {
            if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, TIMESPEC) != 0) {
                throw new IllegalStateException("clock_gettime failed: errno " + Native.getLastError());
            }
            return TIMESPEC.getLong(0) * 1_000_000_000L + TIMESPEC.getLong(8);
        }
    }

    private static String summary(DirectoryUsage.Result result) {
        if (result.vanished() + result.unreadable() + result.mountPointsSkipped() != 0) {
            throw new IllegalStateException("the benchmark tree changed or could not be read: " + result);
        }
        return result.allocatedBytes() + " " + result.apparentBytes() + " " + result.files() + " "
                + result.directories();
    }
}
