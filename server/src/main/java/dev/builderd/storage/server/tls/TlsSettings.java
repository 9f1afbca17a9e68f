package dev.builderd.storage.server.tls;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;

/**
 * HTTPS for the API ({@code docs/security-transport.md}).
 *
 * @param certFile the PEM certificate chain, the server's certificate first
 * @param keyFile its private key (PEM, unencrypted PKCS#8)
 * @param clientCaFile the PEM CA bundle client certificates must chain to; empty: none are asked for
 * @param clientAuth whether a client certificate is required or optional, with a client CA
 * @param reloadInterval how often the files are checked for changes
 */
public record TlsSettings(Path certFile, Path keyFile, Optional<Path> clientCaFile, ClientAuth clientAuth, Duration reloadInterval) {

    /** Whether a client must present a certificate (with a client CA configured). */
    public enum ClientAuth {
        /** The handshake fails without a trusted client certificate. */
        NEED,
        /** A trusted client certificate is asked for; without one the request needs a token. */
        WANT;

        /** {@code need} or {@code want}, in any case; anything else is an {@link IllegalArgumentException}. */
        public static ClientAuth parse(String text) {
            return valueOf(text.toUpperCase(Locale.ROOT));
        }
    }
}
