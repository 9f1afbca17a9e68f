package dev.builderd.storage.server;

import dev.builderd.storage.server.tls.TestPki;
import java.io.IOException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.util.Map;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The hostile tenant's attacks of {@link HostileTenantHttpTest} over HTTPS: the daemon serves TLS
 * with a certificate of a test CA, which the client trusts; every attack must meet the same
 * answers as over plain HTTP.
 */
@ParameterizedClass
@EnumSource(value = MetadataKind.class, names = "SQLITE")
class HostileTenantHttpsTest extends HostileTenantHttpTest {

    @TempDir
    Path pki;
    private TestPki.Issued ca;
    private Map<String, String> tlsEnvironment;

    /** The daemon's certificate and key, made once per test (a second pair would be picked up by the daemon's reload). */
    @Override
    Map<String, String> backendEnvironment() {
        if (tlsEnvironment == null) {
            try {
                ca = TestPki.ca("hostile suite CA");
                TestPki.Issued server = TestPki.server(ca, "EC");
                tlsEnvironment = Map.of("UNKEY_BUILDERD_TLS_CERT_FILE", server.writeCertificate(pki.resolve("server.crt"), ca).toString(),
                        "UNKEY_BUILDERD_TLS_KEY_FILE", server.writeKey(pki.resolve("server.key")).toString());
            } catch (GeneralSecurityException | IOException e) {
                throw new IllegalStateException("making the test certificates failed", e);
            }
        }
        return tlsEnvironment;
    }

    @Override
    SSLContext clientTls() {
        try {
            return TestPki.context(ca, null);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
