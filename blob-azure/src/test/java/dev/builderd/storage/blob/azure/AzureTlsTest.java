package dev.builderd.storage.blob.azure;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.StorageTls;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.testing.AzuriteServer;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The store over HTTPS to an Azurite whose certificate a CA made by this test signed (with the
 * openssl command line tool): trusted through {@link StorageTls#caFile()}, refused without it.
 */
class AzureTlsTest {

    @TempDir
    static Path dir;
    private static AzuriteServer server;
    private static AzuriteServer.Container container;

    @BeforeAll
    static void startHttpsAzurite() throws Exception {
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                "-subj", "/CN=builderd test CA");
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1");
        Files.writeString(dir.resolve("server.ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                + "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n");
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "server.pem", "-days", "2", "-extfile", "server.ext");
        server = AzuriteServer.startHttps(dir.resolve("server.pem"), dir.resolve("server.key"), dir.resolve("ca.pem"));
        container = server.newContainer();
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
    }

    private static AzureSettings settings(StorageTls tls) {
        return AzuriteContractTest.settings(container).withTls(tls);
    }

    @Test
    void trustsTheConfiguredCa() throws Exception {
        assertThat(container.endpoint().getScheme()).isEqualTo("https");
        roundTrip(new StorageTls(Optional.of(dir.resolve("ca.pem")), Optional.empty(), Optional.empty()), "with CA");
    }

    @Test
    void aClientCertificateAndPkcs8KeyAreLoaded() throws Exception {
        // Azurite asks for no client certificate; this shows the files are accepted and used for the client context.
        roundTrip(new StorageTls(Optional.of(dir.resolve("ca.pem")), Optional.of(dir.resolve("server.pem")),
                Optional.of(dir.resolve("server.key"))), "with client certificate");
    }

    @Test
    void refusesTheServerWithoutItsCa() throws Exception {
        try (AzureBlobStore store = new AzureBlobStore(settings(StorageTls.platformDefaults()))) {
            assertThatThrownBy(store::checkContainer)
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining(container.endpoint().toString())
                    .hasMessageContaining(container.name())
                    .satisfies(e -> {
                        List<Throwable> causes = new java.util.ArrayList<>();
                        for (Throwable c = e; c != null; c = c.getCause()) {
                            causes.add(c);
                        }
                        assertThat(causes).as("the TLS failure is the cause").anyMatch(c -> c instanceof javax.net.ssl.SSLException);
                    });
        }
    }

    @Test
    void anUnreadableCaFileFailsNamingIt() {
        Path missing = dir.resolve("no-such-ca.pem");
        assertThatThrownBy(() -> new AzureBlobStore(settings(new StorageTls(Optional.of(missing), Optional.empty(), Optional.empty()))))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(missing.toString());
    }

    private static void roundTrip(StorageTls tls, String content) throws Exception {
        BlobKey key = BlobKey.of("tls/" + content.replace(' ', '-'));
        try (AzureBlobStore store = new AzureBlobStore(settings(tls))) {
            byte[] data = content.getBytes(StandardCharsets.UTF_8);
            store.put(key, new ByteArrayInputStream(data), data.length, WriteMode.OVERWRITE);
            try (InputStream in = store.open(key, ByteRange.ALL)) {
                assertThat(in.readAllBytes()).isEqualTo(data);
            }
        }
    }

    private static void openssl(String... args) throws Exception {
        List<String> command = new java.util.ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        Process process = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(dir.resolve("openssl.out").toFile()).start();
        if (!process.waitFor(60, TimeUnit.SECONDS) || process.exitValue() != 0) {
            process.destroyForcibly();
            throw new IllegalStateException("openssl failed (the TLS test makes its CA with the openssl command): "
                    + String.join(" ", command) + "\n" + Files.readString(dir.resolve("openssl.out")));
        }
    }
}
