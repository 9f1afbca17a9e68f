package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.builderd.storage.server.config.ConfigException;
import dev.builderd.storage.server.config.ConfigParser;
import dev.builderd.storage.server.tls.ServerTls;
import dev.builderd.storage.server.tls.TestPki;
import dev.builderd.storage.server.tls.TestPki.Issued;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;

/**
 * HTTPS, mutual TLS, certificate reload and the plain-HTTP rule of the API, against a real daemon
 * and certificates made for the test (docs/security-transport.md).
 */
class TransportSecurityTest {

    @TempDir
    Path dataRoot;
    @TempDir
    Path pki;

    private Issued ca;
    private Issued server;
    private Path certFile;
    private Path keyFile;
    private Path clientCaFile;
    private DaemonFixture daemon;

    @BeforeEach
    void makeCertificates() throws Exception {
        ca = TestPki.ca("builderd test CA");
        server = TestPki.server(ca, "RSA");
        certFile = server.writeCertificate(pki.resolve("server.crt"), ca);
        keyFile = server.writeKey(pki.resolve("server.key"));
        clientCaFile = ca.writeCertificate(pki.resolve("client-ca.pem"));
    }

    @AfterEach
    void stop() {
        if (daemon != null) {
            daemon.close();
        }
    }

    private DaemonFixture startTls(String... extra) {
        Map<String, String> env = new HashMap<>(Map.of("UNKEY_BUILDERD_TLS_CERT_FILE", certFile.toString(),
                "UNKEY_BUILDERD_TLS_KEY_FILE", keyFile.toString()));
        for (int i = 0; i < extra.length; i += 2) {
            env.put("UNKEY_BUILDERD_" + extra[i], extra[i + 1]);
        }
        daemon = DaemonFixture.start(dataRoot, Optional.empty(), env);
        return daemon;
    }

    /** A request on a new connection (a client of its own), so that it sees the certificate served now. */
    private HttpResponse<String> send(SSLContext tls, String method, String path, String token, String body) throws Exception {
        try (HttpClient client = HttpClient.newBuilder().sslContext(tls).connectTimeout(Duration.ofSeconds(10)).build()) {
            return send(client, method, path, token, body);
        }
    }

    private HttpResponse<String> send(HttpClient client, String method, String path, String token, String body) throws Exception {
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + daemon.port() + path))
                .timeout(Duration.ofSeconds(30))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        return client.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static BigInteger servedSerial(HttpResponse<?> response) throws Exception {
        return ((X509Certificate) response.sslSession().orElseThrow().getPeerCertificates()[0]).getSerialNumber();
    }

    @Test
    void theApiHealthAndMetricsAreServedOverHttpsToClientsTrustingItsCa() throws Exception {
        startTls();
        SSLContext trusting = TestPki.context(ca, null);

        HttpResponse<String> live = send(trusting, "GET", "/health/live", null, null);
        assertThat(live.statusCode()).isEqualTo(200);
        assertThat(servedSerial(live)).isEqualTo(server.serial());
        assertThat(live.sslSession().orElseThrow().getProtocol()).isIn("TLSv1.3", "TLSv1.2");
        assertThat(send(trusting, "GET", "/health/ready", null, null).statusCode()).isEqualTo(200);
        assertThat(send(trusting, "GET", "/metrics", DaemonFixture.ADMIN_TOKEN, null).body()).contains("builderd_");
        assertThat(send(trusting, "PUT", "/v1/tenants/acme", DaemonFixture.ADMIN_TOKEN, "{\"tier\":\"pro\"}").statusCode())
                .isEqualTo(201);

        // A client that does not trust the CA refuses the daemon's certificate.
        assertThatThrownBy(() -> send(TestPki.context(TestPki.ca("another CA"), null), "GET", "/health/live", null, null))
                .isInstanceOf(IOException.class);
    }

    @Test
    void plainHttpToTheTlsPortGetsNoAnswer() {
        startTls();
        try (HttpClient plain = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()) {
            assertThatThrownBy(() -> plain.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + daemon.port() + "/health/live"))
                    .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString())).isInstanceOf(IOException.class);
        }
    }

    @Test
    void withClientAuthNeededOnlyClientsWithACertificateFromTheClientCaGetIn() throws Exception {
        startTls("TLS_CLIENT_CA_FILE", clientCaFile.toString());
        Issued operator = TestPki.client(ca, "operator");
        SSLContext operatorTls = TestPki.context(ca, operator);
        assertThat(send(operatorTls, "PUT", "/v1/tenants/acme", DaemonFixture.ADMIN_TOKEN, "{\"tier\":\"pro\"}").statusCode()).isEqualTo(201);
        assertThat(send(operatorTls, "PUT", "/v1/tenants/other", DaemonFixture.ADMIN_TOKEN, "{\"tier\":\"pro\"}").statusCode()).isEqualTo(201);

        // No certificate, or one from another CA: the handshake fails, whatever token is sent.
        assertThatThrownBy(() -> send(TestPki.context(ca, null), "GET", "/health/live", DaemonFixture.ADMIN_TOKEN, null))
                .isInstanceOf(IOException.class);
        Issued stranger = TestPki.client(TestPki.ca("builderd test CA"), "stranger", "builderd:tenant:acme");
        assertThatThrownBy(() -> send(TestPki.context(ca, stranger), "GET", "/v1/tenants/acme/usage", null, null))
                .isInstanceOf(IOException.class);

        // A certificate naming a tenant reaches that tenant without a token, and no other.
        SSLContext acme = TestPki.context(ca, TestPki.client(ca, "acme build worker", "builderd:tenant:acme"));
        assertThat(send(acme, "GET", "/v1/tenants/acme/usage", null, null).statusCode()).isEqualTo(200);
        assertThat(send(acme, "POST", "/v1/tenants/acme/builds", null, "{\"build_id\":\"b-1\"}").statusCode()).isEqualTo(201);
        HttpResponse<String> foreign = send(acme, "GET", "/v1/tenants/other/usage", null, null);
        assertThat(foreign.statusCode()).isEqualTo(403);
        assertThat(foreign.body()).contains("acme");
        assertThat(send(acme, "PUT", "/v1/tenants/third", null, "{\"tier\":\"pro\"}").statusCode()).as("never the admin").isEqualTo(403);

        // A trusted certificate that names no tenant authenticates nobody: a token is still needed.
        assertThat(send(operatorTls, "GET", "/v1/tenants/acme/usage", null, null).statusCode()).isEqualTo(401);
        // One naming two tenants is refused rather than guessed from.
        SSLContext both = TestPki.context(ca, TestPki.client(ca, "both", "builderd:tenant:acme", "builderd:tenant:other"));
        HttpResponse<String> ambiguous = send(both, "GET", "/v1/tenants/acme/usage", null, null);
        assertThat(ambiguous.statusCode()).isEqualTo(403);
        assertThat(ambiguous.body()).contains("more than one tenant");
    }

    @Test
    void withClientAuthWantedACertificateIsOptional() throws Exception {
        startTls("TLS_CLIENT_CA_FILE", clientCaFile.toString(), "TLS_CLIENT_AUTH", "want");
        SSLContext noCertificate = TestPki.context(ca, null);
        assertThat(send(noCertificate, "PUT", "/v1/tenants/acme", DaemonFixture.ADMIN_TOKEN, "{\"tier\":\"pro\"}").statusCode())
                .isEqualTo(201);
        assertThat(send(noCertificate, "GET", "/v1/tenants/acme/usage", null, null).statusCode()).isEqualTo(401);
        SSLContext acme = TestPki.context(ca, TestPki.client(ca, "acme", "builderd:tenant:acme"));
        assertThat(send(acme, "GET", "/v1/tenants/acme/usage", null, null).statusCode()).isEqualTo(200);
        // Optional does not mean unchecked: a certificate from another CA still fails the handshake.
        Issued stranger = TestPki.client(TestPki.ca("builderd test CA"), "stranger", "builderd:tenant:acme");
        assertThatThrownBy(() -> send(TestPki.context(ca, stranger), "GET", "/health/live", null, null))
                .isInstanceOf(IOException.class);
    }

    @Test
    void replacedCertificateFilesServeNewConnectionsWithoutARestart() throws Exception {
        startTls("TLS_RELOAD_SECONDS", "1");
        SSLContext trusting = TestPki.context(ca, null);
        try (HttpClient kept = HttpClient.newBuilder().sslContext(trusting).build()) {
            HttpResponse<String> before = send(kept, "GET", "/health/live", null, null);
            assertThat(servedSerial(before)).isEqualTo(server.serial());

            Issued renewed = TestPki.server(ca, "EC");
            replace(certFile, renewed.writeCertificate(pki.resolve("renewed.crt"), ca));
            replace(keyFile, renewed.writeKey(pki.resolve("renewed.key")));

            await().atMost(Duration.ofSeconds(30))
                    .until(() -> servedSerial(send(trusting, "GET", "/health/live", null, null)).equals(renewed.serial()));
            // The connection opened before the reload still works, with the certificate it was made with.
            HttpResponse<String> onTheOldConnection = send(kept, "GET", "/health/live", null, null);
            assertThat(onTheOldConnection.statusCode()).isEqualTo(200);
            assertThat(servedSerial(onTheOldConnection)).isEqualTo(server.serial());
        }
    }

    @Test
    void aBrokenReplacementKeepsTheCertificateInUseAndIsLogged() throws Exception {
        startTls("TLS_RELOAD_SECONDS", "1");
        Logger logger = (Logger) LoggerFactory.getLogger(ServerTls.class);
        ListAppender<ILoggingEvent> log = new ListAppender<>();
        log.start();
        logger.addAppender(log);
        try {
            // A new certificate whose key was not replaced: the pair does not match.
            TestPki.server(ca, "RSA").writeCertificate(pki.resolve("mismatched.crt"), ca);
            replace(certFile, pki.resolve("mismatched.crt"));
            await().atMost(Duration.ofSeconds(30)).until(() -> log.list.stream()
                    .anyMatch(event -> event.getFormattedMessage().startsWith("event=tls_reload_failed")));
        } finally {
            logger.detachAppender(log);
        }
        assertThat(log.list).extracting(ILoggingEvent::getFormattedMessage)
                .anySatisfy(message -> assertThat(message).contains("UNKEY_BUILDERD_TLS_KEY_FILE", "does not belong"))
                .noneSatisfy(message -> assertThat(message).contains("PRIVATE KEY"));
        assertThat(servedSerial(send(TestPki.context(ca, null), "GET", "/health/live", null, null))).isEqualTo(server.serial());
    }

    @Test
    void badTlsFilesStopStartUpNamingTheVariable() throws Exception {
        assertThatThrownBy(() -> startTls("TLS_CERT_FILE", pki.resolve("missing.crt").toString()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("UNKEY_BUILDERD_TLS_CERT_FILE=")
                .hasMessageContaining("is not a readable file");
        Path notPem = Files.writeString(pki.resolve("not.pem"), "hello\n");
        assertThatThrownBy(() -> startTls("TLS_CERT_FILE", notPem.toString()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("UNKEY_BUILDERD_TLS_CERT_FILE").hasMessageContaining("PEM");
        Path pkcs1 = Files.writeString(pki.resolve("pkcs1.key"), "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n");
        assertThatThrownBy(() -> startTls("TLS_KEY_FILE", pkcs1.toString()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("UNKEY_BUILDERD_TLS_KEY_FILE").hasMessageContaining("openssl pkcs8");
        Path otherKey = TestPki.server(ca, "RSA").writeKey(pki.resolve("other.key"));
        assertThatThrownBy(() -> startTls("TLS_KEY_FILE", otherKey.toString()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("UNKEY_BUILDERD_TLS_KEY_FILE").hasMessageContaining("does not belong");
        Issued expired = TestPki.issue(ca, "expired", "EC", Instant.now().minus(Duration.ofDays(10)), Instant.now().minus(Duration.ofDays(1)),
                List.of());
        assertThatThrownBy(() -> startTls("TLS_CERT_FILE", expired.writeCertificate(pki.resolve("expired.crt")).toString(),
                "TLS_KEY_FILE", expired.writeKey(pki.resolve("expired.key")).toString()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("UNKEY_BUILDERD_TLS_CERT_FILE").hasMessageContaining("not now");
        assertThatThrownBy(() -> startTls("TLS_CLIENT_CA_FILE", notPem.toString()))
                .isInstanceOf(ConfigException.class).hasMessageContaining("UNKEY_BUILDERD_TLS_CLIENT_CA_FILE");
        assertThatThrownBy(() -> ConfigParser.parse(Map.of("UNKEY_BUILDERD_TLS_CERT_FILE", certFile.toString())))
                .hasMessageContaining("set both UNKEY_BUILDERD_TLS_CERT_FILE and UNKEY_BUILDERD_TLS_KEY_FILE");
        assertThatThrownBy(() -> ConfigParser.parse(Map.of("UNKEY_BUILDERD_TLS_CLIENT_CA_FILE", clientCaFile.toString())))
                .hasMessageContaining("UNKEY_BUILDERD_TLS_CLIENT_CA_FILE needs UNKEY_BUILDERD_TLS_CERT_FILE");
    }

    @Test
    void plainHttpBeyondLoopbackNeedsToBeAllowed() {
        assertThatThrownBy(() -> DaemonFixture.start(dataRoot, Optional.empty(), Map.of("UNKEY_BUILDERD_BIND_ADDRESS", "0.0.0.0")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("UNKEY_BUILDERD_BIND_ADDRESS='0.0.0.0' is not a loopback address")
                .hasMessageContaining("UNKEY_BUILDERD_ALLOW_PLAIN_HTTP=true");

        daemon = DaemonFixture.start(dataRoot, Optional.empty(), Map.of("UNKEY_BUILDERD_BIND_ADDRESS", "0.0.0.0",
                "UNKEY_BUILDERD_ALLOW_PLAIN_HTTP", "true"));
        assertThat(daemon.send("GET", "/health/live", null, null).status()).isEqualTo(200);
    }

    @Test
    void theCommandLineToolsReachAnHttpsDaemonThatNeedsClientCertificates() throws Exception {
        startTls("TLS_CLIENT_CA_FILE", clientCaFile.toString());
        Issued operator = TestPki.client(ca, "operator");
        send(TestPki.context(ca, operator), "PUT", "/v1/tenants/acme", DaemonFixture.ADMIN_TOKEN, "{\"tier\":\"pro\"}");
        Map<String, String> env = Map.of("UNKEY_BUILDERD_DATA_DIR", dataRoot.toString(),
                "UNKEY_BUILDERD_ADMIN_TOKEN", DaemonFixture.ADMIN_TOKEN, "UNKEY_BUILDERD_PORT", String.valueOf(daemon.port()),
                "UNKEY_BUILDERD_TLS_CERT_FILE", certFile.toString(), "UNKEY_BUILDERD_TLS_KEY_FILE", keyFile.toString(),
                "UNKEY_BUILDERD_TLS_CLIENT_CA_FILE", clientCaFile.toString(),
                "UNKEY_BUILDERD_CLI_TLS_CERT_FILE", operator.writeCertificate(pki.resolve("operator.crt")).toString(),
                "UNKEY_BUILDERD_CLI_TLS_KEY_FILE", operator.writeKey(pki.resolve("operator.key")).toString());

        StringWriter out = new StringWriter();
        int code = new CommandLine(new UsageCommand(env)).setOut(new PrintWriter(out)).setErr(new PrintWriter(out)).execute("acme");

        assertThat(code).as(out.toString()).isZero();
        assertThat(out.toString()).contains("\"limit_bytes\"");
    }

    /** Replaces {@code target} by {@code source} in one rename, as an operator's deployment tool would. */
    private static void replace(Path target, Path source) throws IOException {
        Files.move(source, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
