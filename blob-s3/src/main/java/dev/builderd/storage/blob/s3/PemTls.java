package dev.builderd.storage.blob.s3;

import dev.builderd.storage.blob.StorageTls;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;

/**
 * Trust and key managers from the PEM files of {@link StorageTls}, with the JDK alone: certificates
 * through {@link CertificateFactory}, the private key as unencrypted PKCS#8
 * ({@code -----BEGIN PRIVATE KEY-----}).
 */
final class PemTls {

    private static final Pattern PKCS8 = Pattern.compile(
            "-----BEGIN PRIVATE KEY-----([A-Za-z0-9+/=\\s]+)-----END PRIVATE KEY-----");
    private static final char[] IN_MEMORY_PASSWORD = "builderd".toCharArray();

    private PemTls() {
    }

    /** Trust managers that trust exactly the certificates of {@code caFile} (PEM, one or more). */
    static TrustManager[] trustManagers(Path caFile) throws IOException {
        try {
            List<Certificate> cas = certificates(caFile);
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            for (int i = 0; i < cas.size(); i++) {
                store.setCertificateEntry("ca-" + i, cas.get(i));
            }
            TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            factory.init(store);
            return factory.getTrustManagers();
        } catch (GeneralSecurityException e) {
            throw new IOException("storage TLS: cannot use the CA file " + caFile + ": " + e.getMessage(), e);
        }
    }

    /** Key managers presenting the certificate chain of {@code certFile} with the key of {@code keyFile}. */
    static KeyManager[] keyManagers(Path certFile, Path keyFile) throws IOException {
        try {
            List<Certificate> chain = certificates(certFile);
            PrivateKey key = privateKey(keyFile);
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            store.setKeyEntry("client", key, IN_MEMORY_PASSWORD, chain.toArray(Certificate[]::new));
            KeyManagerFactory factory = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            factory.init(store, IN_MEMORY_PASSWORD);
            return factory.getKeyManagers();
        } catch (GeneralSecurityException e) {
            throw new IOException("storage TLS: cannot use the client certificate " + certFile + " with the key "
                    + keyFile + ": " + e.getMessage(), e);
        }
    }

    static List<Certificate> certificates(Path file) throws IOException {
        byte[] pem = readFile(file, "certificate");
        try (InputStream in = new ByteArrayInputStream(pem)) {
            Collection<? extends Certificate> certificates = CertificateFactory.getInstance("X.509").generateCertificates(in);
            if (certificates.isEmpty()) {
                throw new IOException("storage TLS: " + file + " holds no PEM certificate");
            }
            return List.copyOf(certificates);
        } catch (GeneralSecurityException e) {
            throw new IOException("storage TLS: " + file + " is not a PEM certificate file: " + e.getMessage(), e);
        }
    }

    static PrivateKey privateKey(Path file) throws IOException {
        String pem = new String(readFile(file, "private key"), StandardCharsets.US_ASCII);
        Matcher m = PKCS8.matcher(pem);
        if (!m.find()) {
            String hint = pem.contains("ENCRYPTED PRIVATE KEY") ? "it is encrypted"
                    : pem.contains("BEGIN RSA PRIVATE KEY") || pem.contains("BEGIN EC PRIVATE KEY")
                            ? "it is in the older PKCS#1/SEC1 format" : "it holds no PEM private key";
            throw new IOException("storage TLS: the key file " + file + " must be an unencrypted PKCS#8 PEM key"
                    + " (-----BEGIN PRIVATE KEY-----), but " + hint
                    + "; convert it with: openssl pkcs8 -topk8 -nocrypt -in OLD -out NEW");
        }
        byte[] der = Base64.getMimeDecoder().decode(m.group(1));
        PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(der);
        for (String algorithm : List.of("RSA", "EC", "Ed25519", "Ed448", "RSASSA-PSS")) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(spec);
            } catch (GeneralSecurityException e) {
                // try the next algorithm
            }
        }
        throw new IOException("storage TLS: the key in " + file + " is not an RSA, EC or EdDSA PKCS#8 key");
    }

    private static byte[] readFile(Path file, String what) throws IOException {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new IOException("storage TLS: cannot read the " + what + " file " + file + ": " + e, e);
        }
    }
}
