package dev.builderd.storage.server.tls;

import dev.builderd.storage.blob.Pem;
import dev.builderd.storage.server.config.Variable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;

/**
 * The checked contents of the TLS files: a certificate chain whose first certificate matches the
 * private key and is valid now, and the client CAs. Every problem is an {@link Invalid} naming the
 * variable of the file and what is wrong, never its key material.
 */
record TlsMaterial(List<X509Certificate> chain, PrivateKey key, List<X509Certificate> clientCas) {

    private static final byte[] CHALLENGE = "builderd: does this key belong to the certificate?".getBytes(StandardCharsets.US_ASCII);

    /** A TLS file that cannot be used; the one-line message names its variable. */
    static final class Invalid extends RuntimeException {
        Invalid(String message) {
            super(message);
        }
    }

    /** Reads and checks the files of {@code settings} as they are at {@code now}; throws {@link Invalid}. */
    static TlsMaterial load(TlsSettings settings, Instant now) {
        List<X509Certificate> chain = read(Variable.TLS_CERT_FILE, settings.certFile(), Pem::certificates);
        PrivateKey key = read(Variable.TLS_KEY_FILE, settings.keyFile(), Pem::privateKey);
        requireKeyMatches(settings, chain.getFirst(), key);
        for (X509Certificate certificate : chain) {
            if (now.isAfter(certificate.getNotAfter().toInstant()) || now.isBefore(certificate.getNotBefore().toInstant())) {
                throw problem(Variable.TLS_CERT_FILE, settings.certFile(), "the certificate '" + subject(certificate)
                        + "' is valid only from " + certificate.getNotBefore().toInstant() + " to " + certificate.getNotAfter().toInstant()
                        + ", not now (" + now + ")");
            }
        }
        List<X509Certificate> clientCas = settings.clientCaFile()
                .map(file -> read(Variable.TLS_CLIENT_CA_FILE, file, Pem::certificates)).orElse(List.of());
        return new TlsMaterial(chain, key, clientCas);
    }

    /**
     * A digest of the files' current bytes (or of why they cannot be read), to notice a change
     * without trusting modification times, which a copy may keep and coarse clocks may repeat.
     */
    static String fingerprint(TlsSettings settings) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            for (Optional<Path> file : List.of(Optional.of(settings.certFile()), Optional.of(settings.keyFile()), settings.clientCaFile())) {
                digest.update(file.map(TlsMaterial::contentOrError).orElse(new byte[0]));
                digest.update((byte) 0);
            }
            return HexFormat.of().formatHex(digest.digest());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    KeyStore keyStore() {
        try {
            return Pem.keyStore(chain, key);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot hold the TLS key in memory: " + e.getMessage(), e);
        }
    }

    /** The client CAs as a trust store; empty without a client CA file. */
    Optional<KeyStore> clientTrustStore() {
        if (clientCas.isEmpty()) {
            return Optional.empty();
        }
        try {
            return Optional.of(Pem.trustStore(clientCas));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot hold the client CAs in memory: " + e.getMessage(), e);
        }
    }

    /** What the log may say about the served certificate: serial, subject and expiry, no key material. */
    String describe() {
        X509Certificate leaf = chain.getFirst();
        return "serial=" + leaf.getSerialNumber().toString(16) + " subject=\"" + subject(leaf) + "\" not_after="
                + leaf.getNotAfter().toInstant() + " client_cas=" + clientCas.size();
    }

    /** Never the key: a record would print every component. */
    @Override
    public String toString() {
        return describe();
    }

    private static byte[] contentOrError(Path file) {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            return ("unreadable: " + e).getBytes(StandardCharsets.UTF_8);
        }
    }

    /**
     * Signs with the key and verifies with the certificate: a mismatch would otherwise only show
     * as every client's handshake failing.
     */
    private static void requireKeyMatches(TlsSettings settings, X509Certificate certificate, PrivateKey key) {
        String certificateAlgorithm = certificate.getPublicKey().getAlgorithm();
        String signatureAlgorithm = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            case "EdDSA", "Ed25519", "Ed448" -> "EdDSA";
            default -> throw problem(Variable.TLS_KEY_FILE, settings.keyFile(), "a " + key.getAlgorithm()
                    + " key cannot serve TLS here: use an RSA, EC or Ed25519 key");
        };
        boolean matches;
        try {
            Signature signer = Signature.getInstance(signatureAlgorithm);
            signer.initSign(key);
            signer.update(CHALLENGE);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(signatureAlgorithm);
            verifier.initVerify(certificate.getPublicKey());
            verifier.update(CHALLENGE);
            matches = verifier.verify(signature);
        } catch (GeneralSecurityException e) {
            matches = false;
        }
        if (!matches) {
            throw problem(Variable.TLS_KEY_FILE, settings.keyFile(), "the " + key.getAlgorithm()
                    + " key does not belong to the first certificate of " + Variable.TLS_CERT_FILE.envName() + " ('"
                    + subject(certificate) + "', whose public key is " + certificateAlgorithm + "); the server's own certificate must come first");
        }
    }

    private static String subject(X509Certificate certificate) {
        return certificate.getSubjectX500Principal().getName();
    }

    private interface Reader<T> {
        T read(Path file) throws IOException;
    }

    private static <T> T read(Variable variable, Path file, Reader<T> reader) {
        try {
            return reader.read(file);
        } catch (IOException e) {
            throw new Invalid(variable.envName() + ": " + e.getMessage());
        }
    }

    private static Invalid problem(Variable variable, Path file, String what) {
        return new Invalid(variable.envName() + "='" + file + "': " + what);
    }
}
