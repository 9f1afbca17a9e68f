package dev.builderd.storage.server.tls;

import dev.builderd.storage.blob.Pem;
import dev.builderd.storage.server.config.ConfigException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.SecureRequestCustomizer;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.SslConnectionFactory;
import org.eclipse.jetty.util.ssl.SslContextFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * HTTPS for the API: a Jetty connector whose certificate, key and client CAs come from PEM files
 * and are re-read when the files change. A change serves new connections; connections already
 * open keep the certificate they were made with. A changed file that fails the checks of
 * {@link TlsMaterial} leaves the previous material in use and is logged as an error.
 */
public final class ServerTls implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ServerTls.class);
    /** A certificate this close to its end is warned about whenever it is loaded. */
    private static final Duration EXPIRY_WARNING = Duration.ofDays(14);

    private final TlsSettings settings;
    private final Clock clock;
    private final SslContextFactory.Server factory;
    private final ScheduledExecutorService poller;
    /** The fingerprint of the files as last tried, good or bad: each change is tried, and logged, once. */
    private String lastTried;

    private ServerTls(TlsSettings settings, Clock clock, SslContextFactory.Server factory, String lastTried) {
        this.settings = settings;
        this.clock = clock;
        this.factory = factory;
        this.lastTried = lastTried;
        this.poller = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().daemon().name("tls-reload").factory());
    }

    /**
     * Loads and checks the files of {@code settings}; throws {@link ConfigException} naming the
     * variable of a file that is missing, unreadable, not PEM, expired, or whose key does not
     * match. Checks the files for changes every {@link TlsSettings#reloadInterval()} from then on.
     */
    public static ServerTls start(TlsSettings settings, Clock clock) {
        String fingerprint = TlsMaterial.fingerprint(settings);
        TlsMaterial material;
        try {
            material = TlsMaterial.load(settings, clock.instant());
        } catch (TlsMaterial.Invalid e) {
            throw new ConfigException(List.of(e.getMessage()));
        }
        SslContextFactory.Server factory = new SslContextFactory.Server();
        // TLS 1.0 and 1.1 are off in the JDK already; naming the versions keeps them off whatever
        // the JDK's security properties say. Cipher suites stay Jetty's defaults, which exclude
        // the weak ones (RSA key exchange, SHA-1 MACs, NULL, anonymous).
        factory.setIncludeProtocols("TLSv1.3", "TLSv1.2");
        factory.setKeyStorePassword(new String(Pem.IN_MEMORY_PASSWORD));
        apply(factory, settings, material);
        ServerTls tls = new ServerTls(settings, clock, factory, fingerprint);
        LOG.info("event=tls_loaded {}", material.describe());
        tls.warnIfExpiring(material);
        long period = settings.reloadInterval().toMillis();
        tls.poller.scheduleWithFixedDelay(tls::reloadIfChanged, period, period, TimeUnit.MILLISECONDS);
        return tls;
    }

    /** A connector serving HTTP/1.1 over TLS on {@code host:port}, with {@code base}'s settings. */
    public ServerConnector connector(Server server, HttpConfiguration base, String host, int port) {
        HttpConfiguration https = new HttpConfiguration(base);
        // Puts the client certificate into the request (ClientCertificates reads it). The SNI host
        // check would answer 400 to a client that reached the daemon under a name or address the
        // certificate does not list, which the client itself already decided to accept.
        SecureRequestCustomizer secure = new SecureRequestCustomizer();
        secure.setSniHostCheck(false);
        https.addCustomizer(secure);
        ServerConnector connector = new ServerConnector(server, new SslConnectionFactory(factory, HttpVersion.HTTP_1_1.asString()),
                new HttpConnectionFactory(https));
        connector.setHost(host);
        connector.setPort(port);
        return connector;
    }

    /** Re-reads the files if their contents changed since they were last tried. */
    void reloadIfChanged() {
        String fingerprint = TlsMaterial.fingerprint(settings);
        synchronized (this) {
            if (fingerprint.equals(lastTried)) {
                return;
            }
            lastTried = fingerprint;
        }
        try {
            TlsMaterial material = TlsMaterial.load(settings, clock.instant());
            factory.reload(reloading -> apply((SslContextFactory.Server) reloading, settings, material));
            LOG.info("event=tls_reloaded {}", material.describe());
            warnIfExpiring(material);
        } catch (TlsMaterial.Invalid e) {
            LOG.error("event=tls_reload_failed: the changed TLS files are not used, the previous certificate still is: {}",
                    e.getMessage());
        } catch (Exception e) {
            LOG.error("event=tls_reload_failed: the changed TLS files are not used, the previous certificate still is", e);
        }
    }

    @Override
    public void close() {
        poller.shutdownNow();
    }

    private static void apply(SslContextFactory.Server factory, TlsSettings settings, TlsMaterial material) {
        factory.setKeyStore(material.keyStore());
        material.clientTrustStore().ifPresent(trust -> {
            factory.setTrustStore(trust);
            factory.setNeedClientAuth(settings.clientAuth() == TlsSettings.ClientAuth.NEED);
            factory.setWantClientAuth(settings.clientAuth() == TlsSettings.ClientAuth.WANT);
        });
    }

    private void warnIfExpiring(TlsMaterial material) {
        Instant notAfter = material.chain().getFirst().getNotAfter().toInstant();
        if (notAfter.isBefore(clock.instant().plus(EXPIRY_WARNING))) {
            LOG.warn("event=tls_certificate_expiring not_after={}: renew the certificate of the API; the new files are picked up"
                    + " without a restart", notAfter);
        }
    }
}
