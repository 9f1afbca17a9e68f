package dev.builderd.storage.server.tls;

import dev.builderd.storage.blob.Pem;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import javax.security.auth.x500.X500Principal;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/** Certificates made in-process for tests: CAs, servers on 127.0.0.1, clients naming tenants; PEM files and SSL contexts. */
public final class TestPki {

    private static final SecureRandom RANDOM = new SecureRandom();

    private TestPki() {
    }

    /** A key pair and the certificate issued for it. */
    public record Issued(X509Certificate certificate, KeyPair keys) {

        public BigInteger serial() {
            return certificate.getSerialNumber();
        }

        /** Writes the certificate (PEM) to {@code file}; returns it. */
        public Path writeCertificate(Path file, Issued... chainAbove) throws IOException {
            StringBuilder pem = new StringBuilder(pem("CERTIFICATE", encoded(certificate)));
            for (Issued above : chainAbove) {
                pem.append(pem("CERTIFICATE", encoded(above.certificate)));
            }
            return Files.writeString(file, pem);
        }

        /** Writes the private key (PEM, PKCS#8) to {@code file}; returns it. */
        public Path writeKey(Path file) throws IOException {
            return Files.writeString(file, pem("PRIVATE KEY", keys.getPrivate().getEncoded()));
        }
    }

    /** A self-signed CA with an EC key, valid from an hour ago for a day. */
    public static Issued ca(String commonName) throws GeneralSecurityException {
        KeyPair keys = keyPair("EC");
        X500Principal name = new X500Principal("CN=" + commonName);
        return new Issued(build(name, keys, name, keys, true, Instant.now().minus(Duration.ofHours(1)),
                Instant.now().plus(Duration.ofDays(1)), List.of()), keys);
    }

    /** A server certificate for 127.0.0.1 and localhost, with a key of {@code keyAlgorithm} (RSA or EC), valid for a day. */
    public static Issued server(Issued ca, String keyAlgorithm) throws GeneralSecurityException {
        return issue(ca, "builderd test server", keyAlgorithm, Instant.now().minus(Duration.ofHours(1)),
                Instant.now().plus(Duration.ofDays(1)), List.of(new GeneralName(GeneralName.iPAddress, "127.0.0.1"),
                        new GeneralName(GeneralName.dNSName, "localhost")));
    }

    /** A client certificate with the URI names {@code uris} (such as {@code builderd:tenant:acme}). */
    public static Issued client(Issued ca, String commonName, String... uris) throws GeneralSecurityException {
        return issue(ca, commonName, "EC", Instant.now().minus(Duration.ofHours(1)), Instant.now().plus(Duration.ofDays(1)),
                java.util.Arrays.stream(uris).map(uri -> new GeneralName(GeneralName.uniformResourceIdentifier, uri)).toList());
    }

    /** A certificate signed by {@code ca}, valid from {@code notBefore} to {@code notAfter}. */
    public static Issued issue(Issued ca, String commonName, String keyAlgorithm, Instant notBefore, Instant notAfter,
            List<GeneralName> names) throws GeneralSecurityException {
        KeyPair keys = keyPair(keyAlgorithm);
        return new Issued(build(new X500Principal("CN=" + commonName), keys, ca.certificate.getSubjectX500Principal(), ca.keys, false,
                notBefore, notAfter, names), keys);
    }

    /** A client context trusting {@code ca} and presenting {@code client}'s certificate, if any. */
    public static SSLContext context(Issued ca, Issued client) throws GeneralSecurityException {
        TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init(Pem.trustStore(List.of(ca.certificate)));
        KeyManagerFactory keys = null;
        if (client != null) {
            keys = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            keys.init(Pem.keyStore(List.of(client.certificate), client.keys.getPrivate()), Pem.IN_MEMORY_PASSWORD);
        }
        SSLContext context = SSLContext.getInstance("TLS");
        context.init(keys == null ? null : keys.getKeyManagers(), trust.getTrustManagers(), null);
        return context;
    }

    private static KeyPair keyPair(String algorithm) throws GeneralSecurityException {
        KeyPairGenerator generator = KeyPairGenerator.getInstance(algorithm);
        generator.initialize(algorithm.equals("RSA") ? 2048 : 256);
        return generator.generateKeyPair();
    }

    private static X509Certificate build(X500Principal subject, KeyPair subjectKeys, X500Principal issuer, KeyPair issuerKeys, boolean ca,
            Instant notBefore, Instant notAfter, List<GeneralName> names) throws GeneralSecurityException {
        try {
            JcaX509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(issuer, new BigInteger(64, RANDOM).add(BigInteger.ONE),
                    Date.from(notBefore), Date.from(notAfter), subject, subjectKeys.getPublic());
            builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(ca));
            if (ca) {
                builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            } else {
                builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
                builder.addExtension(Extension.extendedKeyUsage, false,
                        new ExtendedKeyUsage(new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}));
            }
            if (!names.isEmpty()) {
                builder.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(names.toArray(GeneralName[]::new)));
            }
            String signature = issuerKeys.getPrivate().getAlgorithm().equals("RSA") ? "SHA256withRSA" : "SHA256withECDSA";
            return new JcaX509CertificateConverter().getCertificate(
                    builder.build(new JcaContentSignerBuilder(signature).build(issuerKeys.getPrivate())));
        } catch (org.bouncycastle.operator.OperatorCreationException | java.io.IOException e) {
            throw new GeneralSecurityException(e);
        }
    }

    private static byte[] encoded(X509Certificate certificate) {
        try {
            return certificate.getEncoded();
        } catch (java.security.cert.CertificateEncodingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n" + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der)
                + "\n-----END " + type + "-----\n";
    }
}
