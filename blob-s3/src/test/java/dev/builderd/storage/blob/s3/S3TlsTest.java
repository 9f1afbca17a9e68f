package dev.builderd.storage.blob.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.Pem;
import dev.builderd.storage.blob.StorageTls;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.testing.S3ProxyServer;
import dev.builderd.storage.testing.SeededBytes;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import javax.net.ssl.SSLException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The store over HTTPS to an s3proxy whose certificate comes from a CA the test made. */
final class S3TlsTest {

    private static S3ProxyServer server;
    private static String bucket;

    @TempDir
    Path temp;

    @BeforeAll
    static void startServer() {
        server = S3ProxyServer.sharedTls();
        bucket = server.newBucket();
    }

    @Test
    void worksOverHttpsTrustingOnlyTheTestCa() throws Exception {
        S3Settings settings = S3TestSupport.settings(server, bucket).withKeyPrefix("tls/");
        assertThat(settings.endpoint()).get().asString().startsWith("https://");
        assertThat(settings.tls().caFile()).isPresent();
        long size = 11L << 20;
        try (S3BlobStore store = new S3BlobStore(settings)) {
            store.checkBucket();
            store.put(BlobKey.of("blob"), SeededBytes.stream(1, size), size, WriteMode.CREATE_NEW);
            try (InputStream in = store.open(BlobKey.of("blob"), ByteRange.ALL)) {
                assertThat(SeededBytes.sha256(in)).isEqualTo(SeededBytes.sha256(1, size));
            }
            assertThat(store.list("", null).next().size()).isEqualTo(size);
        }
    }

    @Test
    void withoutTheCaTheServerIsNotTrusted() throws Exception {
        S3Settings settings = S3TestSupport.settings(server, bucket).withTls(StorageTls.platformDefaults());
        try (S3BlobStore store = new S3BlobStore(settings)) {
            assertThatThrownBy(() -> store.put(BlobKey.of("untrusted"), SeededBytes.stream(1, 10), 10, WriteMode.OVERWRITE))
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining("untrusted")
                    .hasMessageContaining(server.endpoint().toString())
                    .satisfies(e -> assertThat(causes(e)).anyMatch(c -> c instanceof SSLException));
        }
    }

    @Test
    void aClientCertificateAndPkcs8KeyArePresented() throws Exception {
        // s3proxy does not ask for client certificates; this checks that a PEM certificate and a
        // PKCS#8 PEM key (as operators configure them) are parsed and used without breaking TLS.
        Path p12 = temp.resolve("client.p12");
        String java = ProcessHandle.current().info().command().orElseThrow();
        Process keytool = new ProcessBuilder(Path.of(java).resolveSibling("keytool").toString(), "-genkeypair", "-alias", "client",
                "-keyalg", "EC", "-dname", "CN=builderd test client", "-validity", "2", "-keystore", p12.toString(),
                "-storetype", "PKCS12", "-storepass", "changeit").redirectErrorStream(true).start();
        keytool.getInputStream().readAllBytes();
        assertThat(keytool.waitFor()).isZero();
        KeyStore store = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(p12)) {
            store.load(in, "changeit".toCharArray());
        }
        Path key = temp.resolve("client.key");
        Path cert = temp.resolve("client.crt");
        Files.writeString(key, pem("PRIVATE KEY", store.getKey("client", "changeit".toCharArray()).getEncoded()));
        Files.writeString(cert, pem("CERTIFICATE", store.getCertificate("client").getEncoded()));
        S3Settings settings = S3TestSupport.settings(server, bucket).withKeyPrefix("client-cert/")
                .withTls(new StorageTls(server.caPem(), Optional.of(cert), Optional.of(key)));

        try (S3BlobStore s3 = new S3BlobStore(settings)) {
            s3.put(BlobKey.of("blob"), SeededBytes.stream(2, 100), 100, WriteMode.OVERWRITE);
            assertThat(s3.stat(BlobKey.of("blob"))).isPresent();
        }
        assertThat(Pem.privateKey(key).getAlgorithm()).isEqualTo("EC");
    }

    @Test
    void aKeyInTheOldFormatIsRefusedWithAHint() throws Exception {
        Path rsaKey = temp.resolve("rsa.key");
        Files.writeString(rsaKey, "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n");
        assertThatThrownBy(() -> Pem.privateKey(rsaKey)).isInstanceOf(IOException.class)
                .hasMessageContaining("PKCS#8").hasMessageContaining("openssl pkcs8");
        Path missing = temp.resolve("missing.pem");
        assertThatThrownBy(() -> new S3BlobStore(S3TestSupport.settings(server, bucket)
                .withTls(new StorageTls(Optional.of(missing), Optional.empty(), Optional.empty()))))
                .isInstanceOf(IOException.class).hasMessageContaining(missing.toString());
    }

    private static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n" + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der)
                + "\n-----END " + type + "-----\n";
    }

    private static List<Throwable> causes(Throwable e) {
        List<Throwable> chain = new ArrayList<>();
        for (Throwable t = e; t != null && !chain.contains(t); t = t.getCause()) {
            chain.add(t);
        }
        return chain;
    }
}
