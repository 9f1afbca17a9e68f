package dev.builderd.storage.testing;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * A real s3proxy 4.1.0 server for tests, as a separate {@code java -jar} process on
 * {@code 127.0.0.1} and a free port, keeping objects in memory ({@code jclouds.provider=transient})
 * and checking AWS v2/v4 signatures of the credentials {@link #accessKey()}/{@link #secretKey()}.
 *
 * <pre>{@code
 * S3ProxyServer s3 = S3ProxyServer.shared();     // or sharedTls() for https
 * String bucket = s3.newBucket();                 // fresh per test class
 * ... endpoint s3.endpoint(), path-style access, region us-east-1 ...
 * }</pre>
 *
 * <p>One plain-HTTP server and one HTTPS server per JVM, each started on first use and stopped
 * by its PID when the JVM exits. The HTTPS server presents a certificate for
 * {@code IP:127.0.0.1} issued by a CA made for this JVM with the JDK's {@code keytool}; its
 * certificate is in {@link #caPem()}.
 *
 * <p>The server jar ({@code org.gaul:s3proxy:4.1.0:jar-with-dependencies}) is found through the
 * system property {@value #JAR_PROPERTY} (the test module's POM copies it with
 * {@code maven-dependency-plugin} and sets it for surefire), else in the local Maven repository.
 */
public final class S3ProxyServer {

    /** System property naming the s3proxy jar-with-dependencies. */
    public static final String JAR_PROPERTY = "builderd.s3proxy.jar";

    private static final String VERSION = "4.1.0";
    private static final String HOST = "127.0.0.1";
    private static final String ACCESS_KEY = "builderd-test-access";
    private static final String SECRET_KEY = "builderd-test-secret-" + Long.toHexString(ThreadLocalRandom.current().nextLong());
    private static final String STORE_PASSWORD = "builderd-test";
    private static final Duration START_DEADLINE = Duration.ofSeconds(90);
    private static final int START_ATTEMPTS = 3;
    /** The jclouds storage behind s3proxy; {@code -Dbuilderd.s3proxy.provider=...} picks another. */
    private static final String PROVIDER = System.getProperty("builderd.s3proxy.provider", "transient-nio2");

    private static final SharedServer<S3ProxyServer> PLAIN =
            new SharedServer<>("s3proxy-stop", () -> start(false, PROVIDER), S3ProxyServer::stop);
    private static final SharedServer<S3ProxyServer> SECURE =
            new SharedServer<>("s3proxy-stop", () -> start(true, PROVIDER), S3ProxyServer::stop);

    private final boolean tls;
    private final String provider;
    private final Path baseDir;
    private final Path logFile;
    private final AtomicInteger buckets = new AtomicInteger();
    private Path caPem;
    private Path trustStore;
    private HttpClient http;
    private Process process;
    private int port;

    /** The plain-HTTP server of this JVM, started on the first call; a failed start is remembered. */
    public static S3ProxyServer shared() {
        return PLAIN.get();
    }

    /** The HTTPS server of this JVM (certificate from a CA of its own), started on the first call. */
    public static S3ProxyServer sharedTls() {
        return SECURE.get();
    }

    private static S3ProxyServer start(boolean tls, String provider) {
        S3ProxyServer server = new S3ProxyServer(tls, provider);
        server.launch();
        return server;
    }

    /**
     * A plain-HTTP server of the caller's own, storing on disk ({@code filesystem-nio2}), so that a
     * test may {@link #kill()} it and {@link #restart()} it over the same data.
     */
    public static S3ProxyServer startPrivate() {
        S3ProxyServer server = start(false, "filesystem-nio2");
        ServerFiles.stopAtExit("s3proxy-stop", server::stop);
        return server;
    }

    /** Kills the server process at once (SIGKILL), as a crash would. */
    public void kill() throws InterruptedException {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }

    /** Starts the server again over the same data, on a new port (see {@link #endpoint()}). */
    public void restart() {
        launch();
    }

    /** Where a disk-backed server keeps its objects. */
    public Path dataDirectory() {
        return baseDir.resolve("data");
    }

    private S3ProxyServer(boolean tls, String provider) {
        this.tls = tls;
        this.provider = provider;
        try {
            this.baseDir = Files.createTempDirectory("builderd-s3proxy-");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a temporary directory for s3proxy", e);
        }
        this.logFile = baseDir.resolve("s3proxy.log");
    }

    /** {@code http://127.0.0.1:PORT} or {@code https://127.0.0.1:PORT}. */
    public URI endpoint() {
        return URI.create((tls ? "https" : "http") + "://" + HOST + ":" + port);
    }

    public String accessKey() {
        return ACCESS_KEY;
    }

    public String secretKey() {
        return SECRET_KEY;
    }

    /** The signing region to use; s3proxy accepts any. */
    public String region() {
        return "us-east-1";
    }

    /** The PEM certificate of the CA that issued the HTTPS server's certificate; empty for plain HTTP. */
    public Optional<Path> caPem() {
        return Optional.ofNullable(caPem);
    }

    /** The server's output, for diagnosing a failing test. */
    public Path logFile() {
        return logFile;
    }

    /** The server process's id. */
    public long pid() {
        return process.pid();
    }

    /** Creates a new, empty bucket with a unique name and returns its name. */
    public String newBucket() {
        String bucket = "t" + buckets.incrementAndGet() + "-" + Long.toHexString(System.nanoTime());
        try {
            HttpResponse<String> response = http.send(signedV2("PUT", "/" + bucket), HttpResponse.BodyHandlers.ofString());
            if (response.statusCode() != 200) {
                throw new IllegalStateException("s3proxy at " + endpoint() + " refused to create bucket " + bucket + ": HTTP "
                        + response.statusCode() + " " + response.body());
            }
            return bucket;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create bucket " + bucket + " on s3proxy at " + endpoint(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while creating a bucket", e);
        }
    }

    /** A request signed with AWS signature version 2 (enough for bucket administration). */
    private HttpRequest signedV2(String method, String path) {
        String date = DateTimeFormatter.RFC_1123_DATE_TIME.format(ZonedDateTime.now(ZoneOffset.UTC));
        String stringToSign = method + "\n\n\n\nx-amz-date:" + date + "\n" + path;
        String signature;
        try {
            Mac mac = Mac.getInstance("HmacSHA1");
            mac.init(new SecretKeySpec(SECRET_KEY.getBytes(StandardCharsets.UTF_8), "HmacSHA1"));
            signature = Base64.getEncoder().encodeToString(mac.doFinal(stringToSign.getBytes(StandardCharsets.UTF_8)));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("every JDK has HmacSHA1", e);
        }
        return HttpRequest.newBuilder(endpoint().resolve(path))
                .timeout(Duration.ofSeconds(30))
                .header("x-amz-date", date)
                .header("Authorization", "AWS " + ACCESS_KEY + ":" + signature)
                .method(method, HttpRequest.BodyPublishers.noBody())
                .build();
    }

    // ---------------------------------------------------------------- start and stop

    private void launch() {
        Path jar = findJar();
        try {
            if (tls) {
                makeCertificates();
            }
            http = httpClient();
            for (int attempt = 1; ; attempt++) {
                port = ServerFiles.freePort(HOST);
                Path properties = writeProperties();
                process = ServerFiles.startLogged(
                        new ProcessBuilder(javaCommand(), "-Xmx512m", "-jar", jar.toString(), "--properties", properties.toString())
                                .directory(baseDir.toFile()),
                        logFile);
                if (awaitReady()) {
                    return;
                }
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                if (attempt >= START_ATTEMPTS || !ServerFiles.mentions(logFile, "Address already in use")) {
                    throw new IllegalStateException("s3proxy did not answer on " + endpoint() + " within " + START_DEADLINE.toSeconds()
                            + " s (exit code " + (process.isAlive() ? "none, still running" : process.exitValue()) + ")"
                            + ServerFiles.tail(logFile, 30));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start s3proxy (" + jar + "); its directory " + baseDir + " is kept", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while starting s3proxy", e);
        }
    }

    /** Polls until the server gives any HTTP answer (403 included), the process dies or the deadline passes. */
    private boolean awaitReady() throws InterruptedException {
        HttpRequest probe = HttpRequest.newBuilder(endpoint().resolve("/")).timeout(Duration.ofSeconds(5)).GET().build();
        return ServerFiles.awaitHttpAnswer(process, http, probe, START_DEADLINE, Duration.ofMillis(200));
    }

    private Path writeProperties() throws IOException {
        List<String> lines = new ArrayList<>(List.of(
                "s3proxy.authorization=aws-v2-or-v4",
                "s3proxy.identity=" + ACCESS_KEY,
                "s3proxy.credential=" + SECRET_KEY,
                "jclouds.provider=" + provider,
                "jclouds.identity=builderd",
                "jclouds.credential=builderd"));
        if (provider.startsWith("filesystem")) {
            Files.createDirectories(dataDirectory());
            lines.add("jclouds.filesystem.basedir=" + dataDirectory());
        }
        if (tls) {
            lines.add("s3proxy.secure-endpoint=https://" + HOST + ":" + port);
            lines.add("s3proxy.keystore-path=" + baseDir.resolve("server.p12"));
            lines.add("s3proxy.keystore-password=" + STORE_PASSWORD);
        } else {
            lines.add("s3proxy.endpoint=http://" + HOST + ":" + port);
        }
        Path file = baseDir.resolve("s3proxy.properties");
        Files.write(file, lines, StandardCharsets.UTF_8);
        return file;
    }

    /** A CA, a server key pair with a certificate for IP:127.0.0.1 signed by it, and the CA as PEM. */
    private void makeCertificates() throws IOException, InterruptedException {
        String ca = baseDir.resolve("ca.p12").toString();
        String server = baseDir.resolve("server.p12").toString();
        String csr = baseDir.resolve("server.csr").toString();
        String crt = baseDir.resolve("server.crt").toString();
        caPem = baseDir.resolve("ca.pem");
        keytool("-genkeypair", "-alias", "ca", "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=builderd test CA",
                "-ext", "bc:c", "-validity", "3", "-keystore", ca, "-storetype", "PKCS12", "-storepass", STORE_PASSWORD);
        keytool("-exportcert", "-rfc", "-alias", "ca", "-keystore", ca, "-storepass", STORE_PASSWORD, "-file", caPem.toString());
        keytool("-genkeypair", "-alias", "server", "-keyalg", "RSA", "-keysize", "2048", "-dname", "CN=127.0.0.1",
                "-validity", "3", "-keystore", server, "-storetype", "PKCS12", "-storepass", STORE_PASSWORD);
        keytool("-certreq", "-alias", "server", "-keystore", server, "-storepass", STORE_PASSWORD, "-file", csr);
        keytool("-gencert", "-rfc", "-alias", "ca", "-keystore", ca, "-storepass", STORE_PASSWORD, "-infile", csr, "-outfile", crt,
                "-validity", "3", "-ext", "SAN=IP:127.0.0.1", "-ext", "KU=digitalSignature,keyEncipherment", "-ext", "EKU=serverAuth");
        keytool("-importcert", "-noprompt", "-alias", "ca", "-keystore", server, "-storepass", STORE_PASSWORD, "-file", caPem.toString());
        keytool("-importcert", "-noprompt", "-alias", "server", "-keystore", server, "-storepass", STORE_PASSWORD, "-file", crt);
        trustStore = baseDir.resolve("trust.p12");
        keytool("-importcert", "-noprompt", "-alias", "ca", "-keystore", trustStore.toString(), "-storetype", "PKCS12",
                "-storepass", STORE_PASSWORD, "-file", caPem.toString());
    }

    private void keytool(String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(Path.of(javaCommand()).resolveSibling("keytool").toString());
        command.addAll(List.of(args));
        Path output = baseDir.resolve("keytool.out");
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new IllegalStateException("keytool failed: " + String.join(" ", command) + "\n" + Files.readString(output));
        }
    }

    private HttpClient httpClient() {
        HttpClient.Builder builder = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5));
        if (tls) {
            try (InputStream in = Files.newInputStream(trustStore)) {
                KeyStore store = KeyStore.getInstance("PKCS12");
                store.load(in, STORE_PASSWORD.toCharArray());
                TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
                factory.init(store);
                SSLContext context = SSLContext.getInstance("TLS");
                context.init(null, factory.getTrustManagers(), null);
                builder.sslContext(context);
            } catch (IOException | GeneralSecurityException e) {
                throw new IllegalStateException("cannot trust the test CA " + caPem + ": " + e, e);
            }
        }
        return builder.build();
    }

    private void stop() {
        if (process != null) {
            ProcessHandle.of(process.pid()).ifPresent(handle -> {
                handle.destroy();
                try {
                    handle.onExit().get(10, TimeUnit.SECONDS);
                } catch (Exception e) {
                    handle.destroyForcibly();
                }
            });
        }
        ServerFiles.deleteQuietly(baseDir, "S3ProxyServer");
    }

    private static Path findJar() {
        String configured = System.getProperty(JAR_PROPERTY);
        List<Path> candidates = new ArrayList<>();
        if (configured != null && !configured.isBlank()) {
            candidates.add(Path.of(configured));
        }
        String repository = System.getProperty("maven.repo.local");
        Path repo = repository != null ? Path.of(repository) : Path.of(System.getProperty("user.home"), ".m2", "repository");
        candidates.add(repo.resolve("org/gaul/s3proxy/" + VERSION + "/s3proxy-" + VERSION + "-jar-with-dependencies.jar"));
        for (Path candidate : candidates) {
            if (Files.isRegularFile(candidate)) {
                return candidate;
            }
        }
        throw new IllegalStateException("the s3proxy " + VERSION + " jar was not found at " + candidates
                + "; run the tests through Maven (the POM copies org.gaul:s3proxy:" + VERSION
                + ":jar-with-dependencies) or set -D" + JAR_PROPERTY + "=PATH");
    }

    /** The java of this JVM (so the server runs on the JDK the tests run on). */
    private static String javaCommand() {
        return ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    }

    @Override
    public String toString() {
        return "s3proxy " + VERSION + " at " + endpoint() + " (pid " + (process == null ? "-" : process.pid()) + ", log " + logFile + ")";
    }
}
