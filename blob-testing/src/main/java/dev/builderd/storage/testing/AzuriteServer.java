package dev.builderd.storage.testing;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * A real Azure Blob Storage emulator for tests: Azurite {@value #VERSION}, one per JVM, started
 * lazily on {@code 127.0.0.1} on a free port with in-memory persistence, and stopped by PID when
 * the JVM exits.
 *
 * <pre>{@code
 * AzuriteServer.Container c = AzuriteServer.shared().newContainer();
 * // c.endpoint() = http://127.0.0.1:PORT/devstoreaccount1, c.account(), c.accessKey(), c.name()
 * }</pre>
 *
 * <p>Credentials are Azurite's public development account {@value #ACCOUNT} with its well-known
 * key. Each test class takes a fresh container from {@link #newContainer()}.
 *
 * <p>The {@code azurite-blob} program is found at {@code $BUILDERD_AZURITE_BIN} when that is set,
 * else at {@code $BUILDERD_AZURITE_DIR/node_modules/.bin/azurite-blob}, where
 * {@code BUILDERD_AZURITE_DIR} defaults to {@code ~/.cache/builderd/azurite-3.37.0}
 * ({@code $XDG_CACHE_HOME} instead of {@code ~/.cache} when set). {@code bin/test} installs it
 * there with npm (see {@code bin/lib/test-servers.sh}); this class never installs anything.
 *
 * <p>{@link #startHttps} starts a separate, private instance that speaks HTTPS with a given
 * certificate, for TLS tests; its caller closes it.
 */
public final class AzuriteServer implements AutoCloseable {

    /** The Azurite version {@code bin/test} installs. */
    public static final String VERSION = "3.37.0";

    /** Azurite's development account. */
    public static final String ACCOUNT = "devstoreaccount1";

    /** The well-known, public key of {@link #ACCOUNT} (published in Azurite's documentation). */
    public static final String ACCESS_KEY =
            "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    static final String NOT_INSTALLED = "Azurite " + VERSION + " (azurite-blob) not found at %s; run bin/test, which installs it,"
            + " or install it yourself: npm install --prefix %s azurite@" + VERSION
            + " (needs Node.js and npm), or point BUILDERD_AZURITE_BIN at an azurite-blob program";

    /** A container created for one test class, with everything a client needs to reach it. */
    public record Container(URI endpoint, String account, String accessKey, String name) {
        @Override
        public String toString() {
            return "Container[" + endpoint + ", " + name + "]";
        }
    }

    private static final String HOST = "127.0.0.1";
    private static final Duration READY_DEADLINE = Duration.ofSeconds(60);
    private static final int START_ATTEMPTS = 3;
    private static final String API_VERSION = "2021-12-02";

    private static final SharedServer<AzuriteServer> SHARED = new SharedServer<>("azurite-stop", () -> {
        AzuriteServer server = new AzuriteServer(findProgram(), null);
        server.start();
        return server;
    }, AzuriteServer::stop);

    /** The server's certificate and key (PEM) and the CA bundle that signed it, for HTTPS. */
    private record Tls(Path certFile, Path keyFile, Path caFile) {
    }

    private final Path program;
    private final Tls tls;
    private final Path logFile;
    private final AtomicInteger containerCounter = new AtomicInteger();
    private final HttpClient http;
    private Process process;
    private int port;

    /**
     * The server of this JVM, started on the first call. A failed start is remembered: later calls
     * throw the same problem at once.
     *
     * @throws IllegalStateException when Azurite is not installed (saying how to install it) or
     *     does not start (naming its log)
     */
    public static AzuriteServer shared() {
        return SHARED.get();
    }

    /**
     * Starts a private Azurite that speaks HTTPS with {@code certFile} and {@code keyFile} (PEM),
     * which {@code caFile} (PEM) must have signed: the fixture trusts only that CA. The caller
     * closes it.
     */
    public static AzuriteServer startHttps(Path certFile, Path keyFile, Path caFile) {
        AzuriteServer server = new AzuriteServer(findProgram(), new Tls(certFile, keyFile, caFile));
        server.start();
        ServerFiles.stopAtExit("azurite-stop", server::stop);
        return server;
    }

    private AzuriteServer(Path program, Tls tls) {
        this.program = program;
        this.tls = tls;
        HttpClient.Builder client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5));
        if (tls != null) {
            client.sslContext(trusting(tls.caFile()));
        }
        this.http = client.build();
        try {
            this.logFile = Files.createTempFile("builderd-azurite-", ".log");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a log file for Azurite", e);
        }
    }

    /** {@code http://127.0.0.1:PORT/devstoreaccount1}, the blob endpoint of {@link #ACCOUNT}. */
    public URI endpoint() {
        return URI.create((tls == null ? "http" : "https") + "://" + HOST + ":" + port + "/" + ACCOUNT);
    }

    /** The port Azurite's blob service listens on, on {@code 127.0.0.1}. */
    public int port() {
        return port;
    }

    /** Azurite's output, for diagnosing a failing test. */
    public Path logFile() {
        return logFile;
    }

    /** Creates a new, empty container with a unique name. */
    public Container newContainer() {
        String name = "test-" + containerCounter.incrementAndGet() + "-" + Long.toHexString(System.nanoTime());
        try {
            HttpResponse<String> response = http.send(signedCreateContainer(name), HttpResponse.BodyHandlers.ofString());
            if (response.statusCode() != 201) {
                throw new IllegalStateException("Azurite at " + endpoint() + " refused to create container " + name
                        + ": HTTP " + response.statusCode() + " " + response.body() + " (log: " + logFile + ")");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create container " + name + " on Azurite at " + endpoint(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while creating container " + name, e);
        }
        return new Container(endpoint(), ACCOUNT, ACCESS_KEY, name);
    }

    /** {@code PUT ?restype=container}, signed with Shared Key (the test fixture has no Azure SDK). */
    private HttpRequest signedCreateContainer(String name) {
        String date = DateTimeFormatter.RFC_1123_DATE_TIME.format(ZonedDateTime.now(ZoneOffset.UTC));
        // VERB, Content-Encoding, -Language, -Length, -MD5, -Type, Date, If-Modified-Since,
        // If-Match, If-None-Match, If-Unmodified-Since, Range, canonical headers, canonical resource.
        // With a path-style endpoint the account appears twice in the canonical resource.
        String stringToSign = "PUT\n\n\n\n\n\n\n\n\n\n\n\n"
                + "x-ms-date:" + date + "\n" + "x-ms-version:" + API_VERSION + "\n"
                + "/" + ACCOUNT + "/" + ACCOUNT + "/" + name + "\nrestype:container";
        String signature;
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(Base64.getDecoder().decode(ACCESS_KEY), "HmacSHA256"));
            signature = Base64.getEncoder().encodeToString(mac.doFinal(stringToSign.getBytes(StandardCharsets.UTF_8)));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is unavailable", e);
        }
        return HttpRequest.newBuilder(URI.create(endpoint() + "/" + name + "?restype=container"))
                .timeout(Duration.ofSeconds(30))
                .header("x-ms-date", date)
                .header("x-ms-version", API_VERSION)
                .header("Authorization", "SharedKey " + ACCOUNT + ":" + signature)
                .PUT(HttpRequest.BodyPublishers.noBody())
                .build();
    }

    /** Starts the server; when it fails, no process of it is left running. */
    private void start() {
        try {
            launch();
        } catch (RuntimeException e) {
            stop();
            throw e;
        }
    }

    private void launch() {
        for (int attempt = 1; ; attempt++) {
            port = ServerFiles.freePort(HOST);
            List<String> command = new ArrayList<>(List.of(program.toString(),
                    "--blobHost", HOST, "--blobPort", Integer.toString(port),
                    // Without --disableTelemetry, SIGTERM does not stop Azurite.
                    "--inMemoryPersistence", "--disableTelemetry", "--silent",
                    // The SDK may speak a newer x-ms-version than this Azurite knows.
                    "--skipApiVersionCheck"));
            if (tls != null) {
                command.addAll(List.of("--cert", tls.certFile().toString(), "--key", tls.keyFile().toString()));
            }
            try {
                process = ServerFiles.startLogged(new ProcessBuilder(command), logFile);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot run " + String.join(" ", command), e);
            }
            if (awaitReady()) {
                return;
            }
            stop();
            if (attempt >= START_ATTEMPTS || !logMentionsPortInUse()) {
                throw new IllegalStateException("Azurite did not answer on " + endpoint() + " within " + READY_DEADLINE.toSeconds()
                        + " s; command: " + String.join(" ", command) + "; log " + logFile + ":\n" + ServerFiles.readQuietly(logFile));
            }
        }
    }

    /** Polls the port until any HTTP answer comes (an unauthenticated request gets 4xx: up). */
    private boolean awaitReady() {
        HttpRequest probe = HttpRequest.newBuilder(URI.create(endpoint() + "?comp=list"))
                .timeout(Duration.ofSeconds(2)).GET().build();
        try {
            return ServerFiles.awaitHttpAnswer(process, http, probe, READY_DEADLINE, Duration.ofMillis(50));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for Azurite", e);
        }
    }

    /** Stops this server (the shared one stops by itself when the JVM exits). */
    @Override
    public void close() {
        stop();
    }

    private synchronized void stop() {
        Process p = process;
        if (p == null || !p.isAlive()) {
            return;
        }
        // By PID: the node process itself (npm's .bin entry is a symlink to the script, so the
        // started process is node, not a wrapper shell).
        p.destroy();
        try {
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }

    private boolean logMentionsPortInUse() {
        return ServerFiles.mentions(logFile, "EADDRINUSE");
    }

    private static javax.net.ssl.SSLContext trusting(Path caFile) {
        try (java.io.InputStream in = Files.newInputStream(caFile)) {
            java.security.KeyStore trust = java.security.KeyStore.getInstance(java.security.KeyStore.getDefaultType());
            trust.load(null, null);
            int i = 0;
            for (java.security.cert.Certificate ca : java.security.cert.CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                trust.setCertificateEntry("ca-" + i++, ca);
            }
            javax.net.ssl.TrustManagerFactory factory =
                    javax.net.ssl.TrustManagerFactory.getInstance(javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
            factory.init(trust);
            javax.net.ssl.SSLContext context = javax.net.ssl.SSLContext.getInstance("TLS");
            context.init(null, factory.getTrustManagers(), null);
            return context;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the CA file " + caFile, e);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot trust the CA in " + caFile + ": " + e.getMessage(), e);
        }
    }

    /** Where {@code bin/test} installs Azurite, unless {@code BUILDERD_AZURITE_DIR} says otherwise. */
    static Path defaultInstallDir(Map<String, String> env) {
        String dir = env.get("BUILDERD_AZURITE_DIR");
        if (dir != null && !dir.isBlank()) {
            return Path.of(dir);
        }
        String cache = env.get("XDG_CACHE_HOME");
        Path cacheHome = cache != null && !cache.isBlank() ? Path.of(cache) : Path.of(System.getProperty("user.home"), ".cache");
        return cacheHome.resolve("builderd").resolve("azurite-" + VERSION);
    }

    static Path findProgram() {
        return findProgram(System.getenv());
    }

    static Path findProgram(Map<String, String> env) {
        String bin = env.get("BUILDERD_AZURITE_BIN");
        Path dir = defaultInstallDir(env);
        Path program = bin != null && !bin.isBlank() ? Path.of(bin) : dir.resolve("node_modules/.bin/azurite-blob");
        if (!Files.isExecutable(program)) {
            throw new IllegalStateException(String.format(Locale.ROOT, NOT_INSTALLED, program, dir));
        }
        if (!nodeAvailable(env.get("PATH"))) {
            throw new IllegalStateException("Azurite is installed at " + program + " but node (Node.js) is not on PATH;"
                    + " install Node.js (Debian: apt-get install -y nodejs npm), then run bin/test");
        }
        return program;
    }

    private static boolean nodeAvailable(String path) {
        if (path == null) {
            return false;
        }
        for (String dir : path.split(File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, "node"))) {
                return true;
            }
        }
        return false;
    }
}
