package dev.builderd.storage.server.tls;

import dev.builderd.storage.core.error.ForbiddenException;
import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import jakarta.servlet.http.HttpServletRequest;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.Collection;
import java.util.List;
import java.util.Optional;
import org.eclipse.jetty.io.EndPoint;

/**
 * Who a request's client certificate says it is. The certificate was already checked against
 * {@code UNKEY_BUILDERD_TLS_CLIENT_CA_FILE} in the TLS handshake (an untrusted one never gets this
 * far); a tenant is named by exactly one subject alternative name of type URI,
 * {@code builderd:tenant:<tenant id>}. The Subject's CN is not read: CNs are free text that CAs
 * fill with host and person names, a URI name is set on purpose. No certificate makes its holder
 * the admin.
 */
public final class ClientCertificates {

    /** The URI subject alternative name that names a tenant: this prefix, then the tenant id. */
    public static final String TENANT_URI_PREFIX = "builderd:tenant:";
    /** Prefix of the token id of a tenant authenticated by certificate; the certificate's serial (hex) follows. */
    public static final String TOKEN_ID_PREFIX = "mtls:";
    private static final String CERTIFICATES_ATTRIBUTE = "jakarta.servlet.request.X509Certificate";
    /** The general-name type of a URI in {@link X509Certificate#getSubjectAlternativeNames()}. */
    private static final int URI_NAME = 6;

    private ClientCertificates() {
    }

    /**
     * The tenant the request's client certificate names, as {@code Principal.Tenant} with the token
     * id {@code mtls:<serial>}; empty when the request came without a client certificate or its
     * certificate names no tenant. Throws {@link ForbiddenException} when the certificate names
     * more than one tenant or an invalid tenant id.
     */
    public static Optional<Principal> principal(HttpServletRequest request) {
        return principal(request.getAttribute(CERTIFICATES_ATTRIBUTE) instanceof X509Certificate[] chain ? chain : null);
    }

    /** {@link #principal(HttpServletRequest)} of a request as Jetty's handlers see it, before the servlet layer. */
    public static Optional<Principal> principal(org.eclipse.jetty.server.Request request) {
        return principal(request.getAttribute(EndPoint.SslSessionData.ATTRIBUTE) instanceof EndPoint.SslSessionData ssl
                ? ssl.peerCertificates() : null);
    }

    private static Optional<Principal> principal(X509Certificate[] chain) {
        if (chain == null || chain.length == 0) {
            return Optional.empty();
        }
        X509Certificate certificate = chain[0];
        List<String> tenants = tenantNames(certificate);
        if (tenants.isEmpty()) {
            return Optional.empty();
        }
        String serial = certificate.getSerialNumber().toString(16);
        if (tenants.size() > 1) {
            throw new ForbiddenException("the client certificate with serial " + serial + " names more than one tenant "
                    + tenants + ": a certificate may name one tenant only");
        }
        try {
            return Optional.of(new Principal.Tenant(TenantId.of(tenants.getFirst()), TOKEN_ID_PREFIX + serial));
        } catch (InvalidInputException e) {
            throw new ForbiddenException("the client certificate with serial " + serial + " names the tenant '" + tenants.getFirst()
                    + "', which is not a valid tenant id: " + e.getMessage());
        }
    }

    private static List<String> tenantNames(X509Certificate certificate) {
        Collection<List<?>> names;
        try {
            names = certificate.getSubjectAlternativeNames();
        } catch (CertificateParsingException e) {
            throw new ForbiddenException("the client certificate's subject alternative names cannot be read: " + e.getMessage());
        }
        if (names == null) {
            return List.of();
        }
        return names.stream()
                .filter(name -> Integer.valueOf(URI_NAME).equals(name.get(0)) && name.get(1) instanceof String uri
                        && uri.startsWith(TENANT_URI_PREFIX))
                .map(name -> ((String) name.get(1)).substring(TENANT_URI_PREFIX.length()))
                .toList();
    }
}
