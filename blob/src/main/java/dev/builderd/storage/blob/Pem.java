package dev.builderd.storage.blob;

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
import java.security.cert.X509Certificate;
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
 * TLS material from PEM files, with the JDK alone: certificates through {@link CertificateFactory},
 * the private key as unencrypted PKCS#8 ({@code -----BEGIN PRIVATE KEY-----}). Every failure is an
 * {@link IOException} whose message names the file and what is wrong with it; callers add what
 * the file was for.
 */
public final class Pem {

    private static final Pattern PKCS8 = Pattern.compile(
            "-----BEGIN PRIVATE KEY-----([A-Za-z0-9+/=\\s]+)-----END PRIVATE KEY-----");
    /** Protects key stores that never leave memory; JSSE insists on some password. */
    public static final char[] IN_MEMORY_PASSWORD = "builderd".toCharArray();

    private Pem() {
    }

    /** Trust managers that trust exactly the certificates of {@code caFile} (PEM, one or more). */
    public static TrustManager[] trustManagers(Path caFile) throws IOException {
        try {
            TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            factory.init(trustStore(certificates(caFile)));
            return factory.getTrustManagers();
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot use the CA file " + caFile + ": " + e.getMessage(), e);
        }
    }

    /** Key managers presenting the certificate chain of {@code certFile} with the key of {@code keyFile}. */
    public static KeyManager[] keyManagers(Path certFile, Path keyFile) throws IOException {
        try {
            KeyManagerFactory factory = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            factory.init(keyStore(certificates(certFile), privateKey(keyFile)), IN_MEMORY_PASSWORD);
            return factory.getKeyManagers();
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot use the certificate " + certFile + " with the key " + keyFile + ": " + e.getMessage(), e);
        }
    }

    /** An in-memory key store holding {@code key} with its {@code chain}, under {@link #IN_MEMORY_PASSWORD}. */
    public static KeyStore keyStore(List<X509Certificate> chain, PrivateKey key) throws GeneralSecurityException {
        KeyStore store = emptyStore();
        store.setKeyEntry("key", key, IN_MEMORY_PASSWORD, chain.toArray(Certificate[]::new));
        return store;
    }

    /** An in-memory key store trusting each of {@code certificates}. */
    public static KeyStore trustStore(List<X509Certificate> certificates) throws GeneralSecurityException {
        KeyStore store = emptyStore();
        for (int i = 0; i < certificates.size(); i++) {
            store.setCertificateEntry("ca-" + i, certificates.get(i));
        }
        return store;
    }

    /** The X.509 certificates of a PEM file, in file order; at least one. */
    public static List<X509Certificate> certificates(Path file) throws IOException {
        byte[] pem = readFile(file, "certificate");
        try (InputStream in = new ByteArrayInputStream(pem)) {
            Collection<? extends Certificate> certificates = CertificateFactory.getInstance("X.509").generateCertificates(in);
            if (certificates.isEmpty()) {
                throw new IOException(file + " holds no PEM certificate");
            }
            return certificates.stream().map(X509Certificate.class::cast).toList();
        } catch (GeneralSecurityException e) {
            throw new IOException(file + " is not a PEM certificate file: " + e.getMessage(), e);
        }
    }

    /** The unencrypted PKCS#8 private key (RSA, EC or EdDSA) of a PEM file. */
    public static PrivateKey privateKey(Path file) throws IOException {
        String pem = new String(readFile(file, "private key"), StandardCharsets.US_ASCII);
        Matcher m = PKCS8.matcher(pem);
        if (!m.find()) {
            String hint = pem.contains("ENCRYPTED PRIVATE KEY") ? "it is encrypted"
                    : pem.contains("BEGIN RSA PRIVATE KEY") || pem.contains("BEGIN EC PRIVATE KEY")
                            ? "it is in the older PKCS#1/SEC1 format" : "it holds no PEM private key";
            throw new IOException("the key file " + file + " must be an unencrypted PKCS#8 PEM key"
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
        throw new IOException("the key in " + file + " is not an RSA, EC or EdDSA PKCS#8 key");
    }

    private static KeyStore emptyStore() throws GeneralSecurityException {
        KeyStore store = KeyStore.getInstance("PKCS12");
        try {
            store.load(null, null);
        } catch (IOException e) {
            throw new GeneralSecurityException("cannot create an empty key store", e);
        }
        return store;
    }

    private static byte[] readFile(Path file, String what) throws IOException {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new IOException("cannot read the " + what + " file " + file + ": " + e, e);
        }
    }
}
