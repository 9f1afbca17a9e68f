package dev.builderd.storage.testing;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real single-node Ceph 16 for tests: one per JVM, started lazily by
 * {@code bin/lib/ceph-single-node.sh} in its own temporary directory (one monitor, one memstore
 * OSD, one RADOS Gateway on a free port of {@code 127.0.0.1}, no cephx), and stopped (its
 * directory deleted) when the JVM exits. Starting takes about 3 s. If the JVM dies without running
 * its shutdown hooks, a watchdog started by the script stops the cluster within seconds.
 *
 * <pre>{@code
 * CephServer ceph = CephServer.shared();
 * // S3 through the RADOS Gateway:
 * ceph.rgwEndpoint(); ceph.accessKey(); ceph.secretKey(); ceph.newBucketName();
 * // native librados:
 * ceph.monitors(); ceph.pool(); ceph.confFile(); ceph.newPoolNamespace();
 * }</pre>
 *
 * <p>Tests isolate themselves with a fresh bucket ({@link #newBucketName()}) or a fresh RADOS
 * namespace in the shared pool ({@link #newPoolNamespace()}) instead of cleaning up.
 *
 * <p>The programs come from the Debian packages {@value #PACKAGES}; {@code bin/test} installs them
 * when run as root, this class never does. The script is found by walking up from the working
 * directory to the repository root, or named by {@code -Dbuilderd.ceph.script=PATH}.
 */
public final class CephServer {

    /** The Debian packages the cluster needs. */
    public static final String PACKAGES = "ceph-mon ceph-osd radosgw ceph-common librados2";

    static final List<String> PROGRAMS = List.of(
            "ceph", "ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "rados", "monmaptool", "ceph-authtool");

    private static final String SCRIPT = "bin/lib/ceph-single-node.sh";
    private static final int START_TIMEOUT_SECONDS = 180;
    private static final int START_ATTEMPTS = 2;

    private static final SharedServer<CephServer> SHARED = new SharedServer<>("ceph-server-stop", () -> {
        List<String> missing = missingPrograms();
        if (!missing.isEmpty()) {
            throw new IllegalStateException("Ceph programs not found on PATH: " + String.join(", ", missing)
                    + "; run bin/test as root (it installs them) or apt-get install " + PACKAGES);
        }
        CephServer server = new CephServer(findScript());
        server.start();
        return server;
    }, CephServer::stop);

    private final Path script;
    private final Path baseDir;
    private Path clusterDir;
    private final AtomicInteger counter = new AtomicInteger();
    private final String runId = HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextInt());
    private Map<String, String> facts = Map.of();
    private long startMillis;

    /**
     * The cluster of this JVM, started on the first call. A failed start is remembered: later
     * calls throw the same problem at once instead of waiting again.
     *
     * @throws IllegalStateException when the Ceph programs are missing (naming the Debian
     *     packages) or the cluster does not start (naming its log directory)
     */
    public static CephServer shared() {
        return SHARED.get();
    }

    private CephServer(Path script) {
        this.script = script;
        try {
            this.baseDir = Files.createTempDirectory("builderd-ceph-");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a temporary directory for Ceph", e);
        }
    }

    /** The RADOS Gateway's S3 endpoint, {@code http://127.0.0.1:PORT}. */
    public String rgwEndpoint() {
        return fact("CEPH_RGW_ENDPOINT");
    }

    /** The S3 access key of the test user. */
    public String accessKey() {
        return fact("CEPH_ACCESS_KEY");
    }

    /** The S3 secret key of the test user. */
    public String secretKey() {
        return fact("CEPH_SECRET_KEY");
    }

    /** The monitor addresses, as {@code mon host} takes them: {@code [v2:127.0.0.1:P,v1:127.0.0.1:Q]}. */
    public String monitors() {
        return fact("CEPH_MON_HOST");
    }

    /** The RADOS pool made for the native store (replicated, size 1). */
    public String pool() {
        return fact("CEPH_POOL");
    }

    /** The client user ({@code client.admin}; auth is none, so any name gets in). */
    public String user() {
        return fact("CEPH_USER");
    }

    /** The cluster's {@code ceph.conf}, for {@code ceph}, {@code rados} and librados. */
    public Path confFile() {
        return Path.of(fact("CEPH_CONF"));
    }

    /** Where the daemons' logs are, for diagnosing a failing test. */
    public Path logDir() {
        return clusterDir.resolve("log");
    }

    /** How long the cluster took to start, in milliseconds (measured by this class). */
    public long startMillis() {
        return startMillis;
    }

    /** A bucket name no test has used yet (lowercase, valid for S3). */
    public String newBucketName() {
        return "builderd-test-" + runId + "-" + counter.incrementAndGet();
    }

    /** A RADOS namespace of {@link #pool()} that no test has used yet. */
    public String newPoolNamespace() {
        return "test-" + runId + "-" + counter.incrementAndGet();
    }

    private String fact(String name) {
        String value = facts.get(name);
        if (value == null) {
            throw new IllegalStateException("ceph-single-node.sh did not print " + name + "; it printed " + facts.keySet());
        }
        return value;
    }

    private void start() {
        long started = System.nanoTime();
        Path out = baseDir.resolve("start.out");
        Path err = baseDir.resolve("start.err");
        // A free port probed by the script may be taken before a daemon binds it: try again once,
        // in a fresh directory. The last failure's directory stays for inspection.
        for (int attempt = 1; ; attempt++) {
            clusterDir = baseDir.resolve("cluster-" + attempt);
            int exit = run(List.of("bash", script.toString(), "start", clusterDir.toString()), out, err, START_TIMEOUT_SECONDS);
            if (exit == 0) {
                break;
            }
            if (attempt >= START_ATTEMPTS) {
                // Keep the directory: the daemons' logs explain the failure.
                throw new IllegalStateException("Ceph did not start (exit " + exit + ", " + attempt + " attempts); its directory "
                        + baseDir + " is kept for inspection, logs in " + logDir() + "; output:\n" + ServerFiles.readQuietly(err));
            }
            System.err.println("CephServer: start attempt " + attempt + " failed, trying again; output:\n" + ServerFiles.readQuietly(err));
            // Its output (with the logs' tails) is printed above; stop stragglers, drop the directory.
            run(List.of("bash", script.toString(), "stop", clusterDir.toString()),
                    baseDir.resolve("stop.out"), baseDir.resolve("stop.err"), 60);
        }
        Map<String, String> parsed = new HashMap<>();
        for (String line : ServerFiles.readQuietly(out).lines().toList()) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                parsed.put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        facts = Map.copyOf(parsed);
        startMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
    }

    private void stop() {
        int exit = run(List.of("bash", script.toString(), "stop", clusterDir.toString()),
                baseDir.resolve("stop.out"), baseDir.resolve("stop.err"), 60);
        if (exit != 0) {
            System.err.println("CephServer: stopping the cluster in " + clusterDir + " failed (exit " + exit + "): "
                    + ServerFiles.readQuietly(baseDir.resolve("stop.err")));
            return;
        }
        for (String name : List.of("start.out", "start.err", "stop.out", "stop.err")) {
            try {
                Files.deleteIfExists(baseDir.resolve(name));
            } catch (IOException e) {
                // best effort on the way out
            }
        }
        try {
            Files.deleteIfExists(baseDir);
        } catch (IOException e) {
            System.err.println("CephServer: cannot delete " + baseDir + ": " + e.getMessage());
        }
    }

    /**
     * Runs a command to completion with its output in files, not pipes, so that a daemon that
     * inherited them could never make us wait.
     */
    private static int run(List<String> command, Path out, Path err, int timeoutSeconds) {
        try {
            ProcessBuilder builder = new ProcessBuilder(command);
            // The script's watchdog stops the cluster when this JVM ends without stopping it.
            builder.environment().put("CEPH_SINGLE_NODE_OWNER_PID", Long.toString(ProcessHandle.current().pid()));
            Process process = builder
                    .redirectOutput(out.toFile())
                    .redirectError(err.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .start();
            if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IllegalStateException(String.join(" ", command) + " did not finish in " + timeoutSeconds
                        + " s; output:\n" + ServerFiles.readQuietly(err));
            }
            return process.exitValue();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + String.join(" ", command), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running " + String.join(" ", command), e);
        }
    }

    static List<String> missingPrograms() {
        String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
        List<String> missing = new ArrayList<>();
        for (String program : PROGRAMS) {
            boolean found = false;
            for (String dir : path.split(File.pathSeparator)) {
                if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, program))) {
                    found = true;
                    break;
                }
            }
            if (!found) {
                missing.add(program);
            }
        }
        return missing;
    }

    private static Path findScript() {
        String configured = System.getProperty("builderd.ceph.script");
        if (configured != null) {
            return Path.of(configured).toAbsolutePath();
        }
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path candidate = dir.resolve(SCRIPT);
            if (Files.isRegularFile(candidate)) {
                return candidate;
            }
        }
        throw new IllegalStateException(SCRIPT + " not found above " + Path.of("").toAbsolutePath()
                + "; run the tests from the repository or set -Dbuilderd.ceph.script=PATH");
    }
}
