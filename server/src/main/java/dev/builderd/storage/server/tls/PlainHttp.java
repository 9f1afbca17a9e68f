package dev.builderd.storage.server.tls;

import dev.builderd.storage.server.config.ConfigException;
import dev.builderd.storage.server.config.DaemonConfig;
import dev.builderd.storage.server.config.Variable;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The rule for serving the API without TLS: bearer tokens would cross the network in clear text,
 * so plain HTTP is served on a loopback address only, unless the operator allows it explicitly
 * (for example behind a TLS-terminating proxy on the same host or network namespace).
 */
public final class PlainHttp {

    private static final Logger LOG = LoggerFactory.getLogger(PlainHttp.class);

    private PlainHttp() {
    }

    /**
     * Throws {@link ConfigException} when the API would serve plain HTTP on {@code bindAddress},
     * which is not a loopback address, without {@code UNKEY_BUILDERD_ALLOW_PLAIN_HTTP=true}.
     */
    public static void requireAllowed(String bindAddress, DaemonConfig.Transport transport) {
        if (transport.tls().isPresent() || isLoopback(bindAddress)) {
            return;
        }
        if (transport.allowPlainHttp()) {
            LOG.warn("event=plain_http bind_address={}: the API serves plain HTTP beyond this host ({}=true); tokens and data"
                    + " cross the network unencrypted", bindAddress, Variable.ALLOW_PLAIN_HTTP.envName());
            return;
        }
        throw new ConfigException(List.of(Variable.BIND_ADDRESS.envName() + "='" + bindAddress + "' is not a loopback address and "
                + Variable.TLS_CERT_FILE.envName() + " is not set: tokens would cross the network in clear text. Set "
                + Variable.TLS_CERT_FILE.envName() + " and " + Variable.TLS_KEY_FILE.envName() + " (docs/security-transport.md),"
                + " bind to 127.0.0.1, or set " + Variable.ALLOW_PLAIN_HTTP.envName() + "=true"));
    }

    private static boolean isLoopback(String bindAddress) {
        try {
            return InetAddress.getByName(bindAddress.replace("[", "").replace("]", "")).isLoopbackAddress();
        } catch (UnknownHostException e) {
            return false;
        }
    }
}
