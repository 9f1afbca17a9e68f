package dev.builderd.storage.server;

import dev.builderd.storage.core.BackupService;
import dev.builderd.storage.core.BuilderdStorage;
import dev.builderd.storage.core.CoreConfig;
import dev.builderd.storage.core.ReplicationQueue;
import dev.builderd.storage.core.Stores;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.server.config.DaemonConfig;
import dev.builderd.storage.server.http.AuditLog;
import dev.builderd.storage.server.http.HttpApi;
import dev.builderd.storage.server.http.RequestLog;
import dev.builderd.storage.server.mount.MountGuard;
import dev.builderd.storage.server.tls.PlainHttp;
import dev.builderd.storage.server.tls.ServerTls;
import io.javalin.Javalin;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The daemon: checks the data root's mount, composes metadata store, blob stores (through
 * {@link StoreComposition}) and core from a {@link DaemonConfig}, serves the HTTP API, and stops
 * cleanly.
 */
public final class Daemon implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Daemon.class);

    private final MetadataStore metadata;
    private final BuilderdStorage storage;
    private final Javalin http;
    private final StoreComposition stores;

    private final Optional<BackupSchedule> backupSchedule;
    private final Optional<ServerTls> tls;
    private final AuditLog.Destination audit;

    private Daemon(MetadataStore metadata, BuilderdStorage storage, Javalin http, StoreComposition stores,
            Optional<BackupSchedule> backupSchedule, Optional<ServerTls> tls, AuditLog.Destination audit) {
        this.audit = audit;
        this.backupSchedule = backupSchedule;
        this.tls = tls;
        this.metadata = metadata;
        this.storage = storage;
        this.http = http;
        this.stores = stores;
    }

    /** Opens everything and starts listening; returns once the API serves. */
    public static Daemon start(DaemonConfig config) throws IOException {
        long started = System.nanoTime();
        // Before anything is opened: a refused address or a bad certificate stops start-up at once.
        PlainHttp.requireAllowed(config.bindAddress(), config.transport());
        Optional<ServerTls> tls = config.transport().tls().map(settings -> ServerTls.start(settings, Clock.systemUTC()));
        try {
            return start(config, tls, started);
        } catch (IOException | RuntimeException e) {
            tls.ifPresent(ServerTls::close);
            throw e;
        }
    }

    private static Daemon start(DaemonConfig config, Optional<ServerTls> tls, long started) throws IOException {
        Optional<MountGuard> mountGuard = config.dataRootMount().map(mount -> MountGuard.forThisMachine(mount, config.dataRoot()));
        if (mountGuard.isPresent()) {
            mountGuard.get().ensureMounted("root".equals(System.getProperty("user.name")));
        }
        String adminToken = AdminToken.resolve(config);
        // The metadata store first: the replication queue in it is the journal of replicating stores.
        MetadataStore metadata = MetadataStore.open(config.metadata());
        StoreComposition composition;
        try {
            composition = StoreComposition.compose(config, Optional.of(new ReplicationQueue(metadata, Clock.systemUTC())));
        } catch (IOException | RuntimeException e) {
            metadata.close();
            throw e;
        }
        Stores stores = composition.stores();
        BuilderdStorage storage = null;
        AuditLog.Destination audit = null;
        try {
            CoreConfig core = new CoreConfig(config.layout(), config.buildLease(), config.maxBuildLease(),
                    config.leaseCheckInterval(), CoreConfig.SAME_NAME_UPLOAD_WAIT, config.encryption(), config.quotas(),
                    config.cachePolicy(), config.janitor(), config.replication().schedule(), config.cluster(), config.isolation());
            storage = new BuilderdStorage(core, metadata, stores, adminToken, Clock.systemUTC());
            Optional<BackupSchedule> backupSchedule = enableBackups(config, storage, composition);
            StorageHealth health = new StorageHealth(stores.backends(), config.layout().tenantRoots(), mountGuard,
                    storage.tenants(), storage.encryption(), storage.scrub(), storage.replication(), storage.backups(),
                    storage.isolation());
            storage.scheduleScrub(config.scrub().interval(), config.scrub().bytesPerSecond());
            RequestLog requests = new RequestLog(storage.metrics());
            DaemonMetrics.register(storage.metrics(), config.layout().tenantRoots(), stores.backends());
            audit = AuditLog.writeTo(config.auditLogFile());
            HttpApi api = new HttpApi(storage, metadata, health, config.layout(), config.buildToolMaxEntryBytes(), config.rateLimits());
            Javalin http = Javalin.create(javalin -> {
                javalin.startup.showJavalinBanner = false;
                // Jetty's pool of platform threads (Javalin's default: at most 250 requests worked on at
                // once, more wait in its queue; idle keep-alive connections hold no thread): small
                // requests, such as 4 KiB cache hits, are ~20% faster than on a virtual thread each
                // (bench/run-cache.sh), and 250 transfers in flight saturate a node long before.
                javalin.concurrency.useVirtualThreads = false;
                javalin.jetty.host = config.bindAddress();
                javalin.jetty.port = config.port();
                tls.ifPresent(https -> javalin.jetty.addConnector((server, httpConfig) ->
                        https.connector(server, httpConfig, config.bindAddress(), config.port())));
                javalin.requestLogger.http(requests::record);
                api.register(javalin);
            }).start();
            String scheme = tls.isPresent() ? "https" : "http";
            storage.advertise(config.advertiseUrl().orElseGet(() -> defaultAdvertiseUrl(scheme, config.bindAddress(), http.port())));
            Thread.ofVirtual().name("probe-remote-stores").start(() -> composition.probeRemoteStores(Duration.ofSeconds(10)));
            composition.startCleaningAbandonedUploads(config.abandonedUploadAge());
            LOG.info("Builderd Storage serves {} on {}:{} (data root {}, metadata {}), started in {} ms",
                    scheme.toUpperCase(java.util.Locale.ROOT), config.bindAddress(), http.port(), config.dataRoot(), config.metadata(),
                    (System.nanoTime() - started) / 1_000_000);
            return new Daemon(metadata, storage, http, composition, backupSchedule, tls, audit);
        } catch (RuntimeException | IOException e) {
            if (audit != null) {
                audit.close();
            }
            if (storage != null) {
                storage.close();
            }
            metadata.close();
            composition.close();
            throw e;
        }
    }

    /**
     * {@code <scheme>://<bind address>:<port>}, with the host name in place of a wildcard bind
     * address (which no client can connect to).
     */
    static String defaultAdvertiseUrl(String scheme, String bindAddress, int port) {
        String host = bindAddress;
        if (bindAddress.equals("0.0.0.0") || bindAddress.equals("::") || bindAddress.equals("[::]")) {
            try {
                host = java.net.InetAddress.getLocalHost().getHostName();
            } catch (java.net.UnknownHostException e) {
                host = "localhost";
            }
        } else if (bindAddress.contains(":") && !bindAddress.startsWith("[")) {
            host = "[" + bindAddress + "]";
        }
        return scheme + "://" + host + ":" + port;
    }

    /** Backups into the configured target, on the configured schedule (none without a target). */
    private static Optional<BackupSchedule> enableBackups(DaemonConfig config, BuilderdStorage storage, StoreComposition composition)
            throws IOException {
        if (config.backup().target().isEmpty()) {
            return Optional.empty();
        }
        BackupService backups = storage.enableBackups(composition.target(config.backup().target().get()), config.backup().retention());
        LOG.info("backups go to the {}{}", backups.describeTarget(), config.backup().schedule()
                .map(cron -> ", every time '" + cron.asString() + "' (UTC) names").orElse(", on demand only"));
        return config.backup().schedule().map(cron -> {
            BackupSchedule schedule = new BackupSchedule(backups, cron,
                    () -> storage.jobLeases().holds(dev.builderd.storage.core.JobLeases.Job.BACKUP_SCHEDULE), Clock.systemUTC());
            schedule.start();
            return schedule;
        });
    }

    /** The port the API listens on. */
    public int port() {
        return http.port();
    }

    public BuilderdStorage storage() {
        return storage;
    }

    @Override
    public void close() {
        backupSchedule.ifPresent(BackupSchedule::close);
        http.stop();
        tls.ifPresent(ServerTls::close);
        storage.close();
        metadata.close();
        stores.close();
        audit.close();
    }
}
