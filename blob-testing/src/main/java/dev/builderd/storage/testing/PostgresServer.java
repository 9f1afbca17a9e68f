package dev.builderd.storage.testing;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.UserPrincipal;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * A real PostgreSQL server for tests: one per JVM, started lazily on {@code 127.0.0.1} on a free
 * port from the Debian server binaries, in its own temporary directory, and stopped (and its
 * directory deleted) when the JVM exits.
 *
 * <pre>{@code
 * PostgresServer.Database db = PostgresServer.shared().newDatabase();
 * DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password());
 * }</pre>
 *
 * <p>Each test takes a fresh database from {@link #newDatabase()} instead of cleaning up a
 * shared one, so tests stay independent and may run in parallel. Authentication is
 * {@code trust}: the superuser {@code postgres} gets in with any password.
 *
 * <p>The binaries come from the newest {@code /usr/lib/postgresql/<version>/bin}, else from
 * {@code pg_config --bindir}. {@code bin/test} installs them (Debian package {@code postgresql});
 * this class never does. PostgreSQL refuses to run as root, so as root it runs {@code initdb} and
 * {@code pg_ctl} as the {@code postgres} user, which then owns the directory.
 */
public final class PostgresServer {

    /** A database created for one test, with the ways clients name it. */
    public record Database(String jdbcUrl, String user, String password, String url) {
        /** The database name (the last path segment of both URLs). */
        public String name() {
            return url.substring(url.lastIndexOf('/') + 1);
        }
    }

    static final String BINARIES_MISSING =
            "PostgreSQL server binaries not found; run bin/test (which installs the Debian package postgresql)"
                    + " or apt-get install postgresql";

    private static final String HOST = "127.0.0.1";
    private static final String SUPERUSER = "postgres";
    private static final String OS_USER_WHEN_ROOT = "postgres";
    private static final int START_ATTEMPTS = 3;
    private static final int PG_CTL_TIMEOUT_SECONDS = 60;

    private static final SharedServer<PostgresServer> SHARED = new SharedServer<>("postgres-server-stop", () -> {
        PostgresServer server = new PostgresServer(findBinDir());
        server.start();
        return server;
    }, PostgresServer::stop);

    private final Path binDir;
    private final Path baseDir;
    private final Path dataDir;
    private final Path logFile;
    private final boolean asPostgresUser;
    private final AtomicInteger databaseCounter = new AtomicInteger();
    private int port;

    /**
     * The server of this JVM, started on the first call. A failed start is remembered: later calls
     * throw the same problem at once instead of trying (and waiting) again.
     *
     * @throws IllegalStateException when the binaries are missing or the server does not start;
     *     the message names the server log
     */
    public static PostgresServer shared() {
        return SHARED.get();
    }

    private PostgresServer(Path binDir) {
        this.binDir = binDir;
        this.asPostgresUser = runningAsRoot();
        try {
            this.baseDir = Files.createTempDirectory("builderd-pg-");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a temporary directory for PostgreSQL", e);
        }
        this.dataDir = baseDir.resolve("data");
        this.logFile = baseDir.resolve("server.log");
    }

    /** The port the server listens on, on {@code 127.0.0.1}. */
    public int port() {
        return port;
    }

    /** {@code 127.0.0.1}. */
    public String host() {
        return HOST;
    }

    /** The server's log file, for diagnosing a failing test. */
    public Path logFile() {
        return logFile;
    }

    /**
     * Creates a new, empty database with a unique name, owned by the superuser {@code postgres}.
     */
    public Database newDatabase() {
        String name = "test_" + databaseCounter.incrementAndGet() + "_" + Long.toHexString(System.nanoTime());
        try (Connection c = DriverManager.getConnection(jdbcUrl("postgres"), SUPERUSER, "");
                Statement s = c.createStatement()) {
            // The name is ours (digits and letters only), so building the statement is safe.
            s.execute("CREATE DATABASE " + name);
        } catch (SQLException e) {
            throw new IllegalStateException(
                    "cannot create database " + name + " on PostgreSQL at " + HOST + ":" + port
                            + " (server log: " + logFile + "): " + e.getMessage(), e);
        }
        return new Database(jdbcUrl(name), SUPERUSER, "", "postgresql://" + SUPERUSER + "@" + HOST + ":" + port + "/" + name);
    }

    /**
     * Makes the database named {@code name} unreachable, as a server that is down would be: new
     * connections are refused and open ones are ended. {@link #reopen} undoes it.
     */
    public void cutOff(String name) {
        superuser("ALTER DATABASE " + checkedName(name) + " ALLOW_CONNECTIONS false",
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + checkedName(name) + "'");
    }

    /** Lets clients connect to a database that {@link #cutOff} made unreachable. */
    public void reopen(String name) {
        superuser("ALTER DATABASE " + checkedName(name) + " ALLOW_CONNECTIONS true");
    }

    private static String checkedName(String name) {
        if (!name.matches("test_[0-9]+_[0-9a-f]+")) {
            throw new IllegalArgumentException("not a database of this fixture: " + name);
        }
        return name;
    }

    private void superuser(String... statements) {
        try (Connection c = DriverManager.getConnection(jdbcUrl("postgres"), SUPERUSER, "");
                Statement s = c.createStatement()) {
            for (String statement : statements) {
                s.execute(statement);
            }
        } catch (SQLException e) {
            throw new IllegalStateException("PostgreSQL at " + HOST + ":" + port + " refused: " + e.getMessage(), e);
        }
    }

    private String jdbcUrl(String database) {
        return "jdbc:postgresql://" + HOST + ":" + port + "/" + database;
    }

    private void start() {
        try {
            if (asPostgresUser) {
                chownToPostgres(baseDir);
            }
            run(List.of(bin("initdb"), "-D", dataDir.toString(), "-U", SUPERUSER, "-A", "trust",
                    "-E", "UTF8", "--no-locale", "--no-sync"), "initdb");
            // A free port found now may be taken before the server binds it; then try another.
            for (int attempt = 1; ; attempt++) {
                port = ServerFiles.freePort(HOST);
                try {
                    run(List.of(bin("pg_ctl"), "-D", dataDir.toString(), "-l", logFile.toString(),
                            "-w", "-t", Integer.toString(PG_CTL_TIMEOUT_SECONDS),
                            "-o", "-c listen_addresses=" + HOST + " -p " + port
                                    + " -c unix_socket_directories=" + baseDir + " -c fsync=off",
                            "start"), "pg_ctl start");
                    break;
                } catch (IllegalStateException e) {
                    if (attempt >= START_ATTEMPTS || !logMentionsPortInUse()) {
                        throw e;
                    }
                }
            }
        } catch (RuntimeException e) {
            // Keep the directory: its server log and the programs' output explain the failure.
            throw new IllegalStateException("PostgreSQL did not start; its directory " + baseDir
                    + " is kept for inspection. " + e.getMessage(), e);
        }
    }

    private void stop() {
        try {
            run(List.of(bin("pg_ctl"), "-D", dataDir.toString(), "-m", "immediate", "-w", "stop"), "pg_ctl stop");
        } catch (RuntimeException e) {
            // The JVM is exiting: say why the server may outlive it, but do not fail the exit.
            System.err.println("PostgresServer: " + e.getMessage());
        }
        ServerFiles.deleteQuietly(baseDir, "PostgresServer");
    }

    private boolean logMentionsPortInUse() {
        return ServerFiles.mentions(logFile, "could not bind", "Address already in use");
    }

    private String bin(String program) {
        return binDir.resolve(program).toString();
    }

    /**
     * Runs one PostgreSQL program to completion (as the postgres user when we are root) and
     * throws with its output and the server log's path when it fails. Output goes to a file, not
     * a pipe, so a server process that inherited it could never make us wait.
     */
    private void run(List<String> command, String what) {
        List<String> full = new ArrayList<>();
        if (asPostgresUser) {
            full.addAll(List.of(runuser(), "-u", OS_USER_WHEN_ROOT, "--"));
        }
        full.addAll(command);
        Path output = baseDir.resolve(what.replace(' ', '-') + ".out");
        try {
            Process process = new ProcessBuilder(full)
                    // The postgres user may not be allowed into our working directory.
                    .directory(baseDir.toFile())
                    .redirectErrorStream(true)
                    .redirectOutput(output.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .start();
            if (!process.waitFor(PG_CTL_TIMEOUT_SECONDS + 30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IllegalStateException(what + " did not finish in " + (PG_CTL_TIMEOUT_SECONDS + 30)
                        + " s; command: " + String.join(" ", full) + "; server log: " + logFile);
            }
            if (process.exitValue() != 0) {
                throw new IllegalStateException(what + " failed with exit code " + process.exitValue()
                        + "; command: " + String.join(" ", full) + "; server log: " + logFile
                        + "; output:\n" + ServerFiles.readQuietly(output) + tailOfLog());
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + String.join(" ", full), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running " + what, e);
        }
    }

    private String tailOfLog() {
        return Files.exists(logFile) ? ServerFiles.tail(logFile, 20) : "";
    }

    private void chownToPostgres(Path dir) {
        try {
            UserPrincipalLookupService lookup = dir.getFileSystem().getUserPrincipalLookupService();
            UserPrincipal user = lookup.lookupPrincipalByName(OS_USER_WHEN_ROOT);
            GroupPrincipal group = lookup.lookupPrincipalByGroupName(OS_USER_WHEN_ROOT);
            PosixFileAttributeView view = Files.getFileAttributeView(dir, PosixFileAttributeView.class);
            view.setOwner(user);
            view.setGroup(group);
        } catch (IOException e) {
            throw new IllegalStateException("running as root, PostgreSQL must run as the user '" + OS_USER_WHEN_ROOT
                    + "' (the Debian package creates it), but " + dir + " cannot be given to it: " + e, e);
        }
    }

    private static String runuser() {
        for (String candidate : List.of("/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser")) {
            if (Files.isExecutable(Path.of(candidate))) {
                return candidate;
            }
        }
        throw new IllegalStateException("running as root, PostgreSQL must run as the user '" + OS_USER_WHEN_ROOT
                + "', but runuser (util-linux) was not found");
    }

    private static boolean runningAsRoot() {
        try {
            // /proc/self belongs to the effective user of this process.
            return Integer.valueOf(0).equals(Files.getAttribute(Path.of("/proc/self"), "unix:uid"));
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return "root".equals(System.getProperty("user.name"));
        }
    }

    /** The newest {@code /usr/lib/postgresql/<version>/bin} with initdb, else {@code pg_config --bindir}. */
    static Path findBinDir() {
        Path root = Path.of("/usr/lib/postgresql");
        if (Files.isDirectory(root)) {
            try (Stream<Path> versions = Files.list(root)) {
                Optional<Path> newest = versions
                        .map(v -> v.resolve("bin"))
                        .filter(PostgresServer::hasServerBinaries)
                        .max(Comparator.comparing(PostgresServer::versionOf));
                if (newest.isPresent()) {
                    return newest.get();
                }
            } catch (IOException e) {
                // fall through to pg_config
            }
        }
        return pgConfigBinDir().filter(PostgresServer::hasServerBinaries)
                .orElseThrow(() -> new IllegalStateException(BINARIES_MISSING));
    }

    private static boolean hasServerBinaries(Path dir) {
        return Files.isExecutable(dir.resolve("initdb")) && Files.isExecutable(dir.resolve("pg_ctl"));
    }

    /** "15" -> 15.0, "9.6" -> 9.6; names that are no version sort first. */
    private static double versionOf(Path binDir) {
        try {
            return Double.parseDouble(binDir.getParent().getFileName().toString());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static Optional<Path> pgConfigBinDir() {
        try {
            Process process = new ProcessBuilder("pg_config", "--bindir")
                    .redirectError(ProcessBuilder.Redirect.DISCARD)
                    .start();
            String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (process.waitFor(10, TimeUnit.SECONDS) && process.exitValue() == 0 && !out.isEmpty()) {
                return Optional.of(Path.of(out));
            }
        } catch (IOException e) {
            // no pg_config on PATH
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return Optional.empty();
    }
}
