package dev.builderd.storage.server.config;

import dev.builderd.storage.core.CacheService;
import dev.builderd.storage.core.BackupService;
import dev.builderd.storage.core.CoreConfig;
import dev.builderd.storage.core.Layout;
import dev.builderd.storage.core.metadata.CacheRows;
import dev.builderd.storage.core.crypto.EncryptionConfig;
import dev.builderd.storage.core.fs.TenantIsolation;
import dev.builderd.storage.core.crypto.FixedMasterKey;
import dev.builderd.storage.core.crypto.TenantKeys;
import dev.builderd.storage.core.quota.HardLimitAction;
import dev.builderd.storage.core.quota.Quotas;
import dev.builderd.storage.blob.ParallelIo;
import dev.builderd.storage.blob.RemoteTimeouts;
import dev.builderd.storage.blob.StorageTls;
import dev.builderd.storage.blob.TieredBlobStore;
import dev.builderd.storage.blob.azure.AzureSettings;
import dev.builderd.storage.blob.ceph.CephSettings;
import dev.builderd.storage.blob.gcs.GcsSettings;
import dev.builderd.storage.blob.s3.S3Settings;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.server.mount.NetworkMount;
import dev.builderd.storage.server.tls.TlsSettings;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns the environment into a {@link DaemonConfig}: the only place that reads configuration.
 * Every problem found is reported at once, each naming its variable and what it accepts.
 */
public final class ConfigParser {

    private static final Logger LOG = LoggerFactory.getLogger(ConfigParser.class);

    private final Map<String, String> env;
    private final List<String> problems = new ArrayList<>();

    private ConfigParser(Map<String, String> env) {
        this.env = env;
    }

    /** Parses {@code env}; throws {@link ConfigException} listing every invalid variable. */
    public static DaemonConfig parse(Map<String, String> env) {
        return new ConfigParser(env).parse();
    }

    private DaemonConfig parse() {
        warnAboutUnknownVariables();
        int port = integer(Variable.PORT, 0, 65535);
        String bind = text(Variable.BIND_ADDRESS);
        String storageKind = kind(Variable.STORAGE_BACKEND, text(Variable.STORAGE_BACKEND));
        String artifactsKind = categoryKind(Variable.ARTIFACTS_BACKEND, storageKind);
        String logsKind = categoryKind(Variable.LOGS_BACKEND, storageKind);
        String cachesKind = categoryKind(Variable.CACHE_BACKEND, storageKind);
        Optional<NetworkMount> mount = networkMount(storageKind);
        Map<String, BlobBackend> backends = new TreeMap<>();
        for (String kind : new String[] {artifactsKind, logsKind, cachesKind}) {
            if (kind != null && !backends.containsKey(kind)) {
                backends.put(kind, blobBackend(kind));
            }
        }
        warnAboutUnusedBackendVariables(storageKind, backends.keySet());
        DaemonConfig.Breaker breaker = new DaemonConfig.Breaker(integer(Variable.STORAGE_BREAKER_FAILURES, 1, 1000),
                seconds(Variable.STORAGE_BREAKER_OPEN_SECONDS));
        Path dataRoot = path(Variable.DATA_DIR, null);
        Layout layout = dataRoot == null ? null : new Layout(dataRoot,
                path(Variable.SCRATCH_DIR, dataRoot), path(Variable.WORKSPACE_DIR, dataRoot),
                path(Variable.ROOTFS_OUTPUT_DIR, dataRoot), path(Variable.CACHE_DIR, dataRoot));
        Optional<DaemonConfig.Secret> adminToken = adminToken();
        MetadataLocation metadata = metadata(dataRoot);
        Duration lease = seconds(Variable.BUILD_LEASE_SECONDS);
        Duration maxLease = seconds(Variable.MAX_BUILD_LEASE_SECONDS);
        Duration check = seconds(Variable.LEASE_CHECK_SECONDS);
        if (lease != null && maxLease != null && maxLease.compareTo(lease) < 0) {
            problems.add(Variable.MAX_BUILD_LEASE_SECONDS.envName() + " (" + maxLease.toSeconds() + ") must not be below "
                    + Variable.BUILD_LEASE_SECONDS.envName() + " (" + lease.toSeconds() + ")");
        }
        Duration abandonedUploadAge = Duration.ofHours(integer(Variable.STORAGE_ABANDONED_UPLOAD_HOURS, 1, 24 * 30));
        EncryptionConfig encryption = encryption(layout);
        Quotas.Config quotas = new Quotas.Config(integer(Variable.QUOTA_SOFT_LIMIT_PERCENT, 1, 100),
                convert(Variable.QUOTA_HARD_LIMIT_ACTION, "use reject or throttle", HardLimitAction::parse),
                seconds(Variable.QUOTA_THROTTLE_WAIT_SECONDS), Quotas.Config.DEFAULTS.reservationLease(),
                seconds(Variable.QUOTA_CHECK_SECONDS), seconds(Variable.QUOTA_RECONCILE_SECONDS));
        CacheService.Policy cachePolicy = new CacheService.Policy(
                convert(Variable.CACHE_EVICTION_POLICY, "use lru, fifo or random", CacheRows.Order::parse),
                Duration.ofSeconds(integer(Variable.CACHE_MIN_RETENTION_SECONDS, 0, 31_536_000)),
                Duration.ofDays(integer(Variable.CACHE_MAX_RETENTION_DAYS, 0, 3650)), 0);
        long buildToolMaxEntryBytes = (long) integer(Variable.BUILD_TOOL_CACHE_MAX_ENTRY_MB, 1, 1 << 20) << 20;
        TieredBlobStore.Settings cacheTiers = cacheTiers(layout);
        DaemonConfig.Scrub scrub = new DaemonConfig.Scrub(Duration.ofHours(integer(Variable.SCRUB_INTERVAL_HOURS, 0, 8760)),
                (long) integer(Variable.SCRUB_MB_PER_SECOND, 1, 1 << 20) << 20);
        DaemonConfig.Replication replication = new DaemonConfig.Replication(
                target(Variable.REPLICA_TARGET, Variable.REPLICA_S3_ACCESS_KEY_ID, Variable.REPLICA_S3_SECRET_ACCESS_KEY,
                        Variable.REPLICA_AZURE_ACCESS_KEY),
                bool(Variable.REPLICATION_CACHES),
                new CoreConfig.Replication(Duration.ofHours(integer(Variable.REPLICATION_DELETE_DELAY_HOURS, 0, 24 * 365)),
                        Duration.ofHours(integer(Variable.REPLICATION_REPAIR_INTERVAL_HOURS, 0, 24 * 365)),
                        CoreConfig.Replication.DEFAULTS.pollInterval(), CoreConfig.Replication.DEFAULTS.workers()));
        DaemonConfig.Backup backup = backup();
        Duration janitorInterval = seconds(Variable.JANITOR_INTERVAL_SECONDS);
        Duration orphanGrace = seconds(Variable.ORPHAN_GRACE_SECONDS);
        Duration jobLease = seconds(Variable.JOB_LEASE_SECONDS);
        Optional<String> advertiseUrl = raw(Variable.ADVERTISE_URL) == null ? Optional.empty() : Optional.ofNullable(convert(Variable.ADVERTISE_URL,
                "use an absolute http:// or https:// URL such as http://node-1.example.com:8082", text -> {
                    java.net.URI uri = java.net.URI.create(text.endsWith("/") ? text.substring(0, text.length() - 1) : text);
                    if (!("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) || uri.getHost() == null) {
                        throw new IllegalArgumentException();
                    }
                    return uri.toString();
                }));
        // Read by logback itself (logback.xml picks the appender by name); checked here so a typo is named.
        convert(Variable.LOG_FORMAT, "use text or json", format -> {
            if (!format.equals("text") && !format.equals("json")) {
                throw new IllegalArgumentException();
            }
            return format;
        });
        DaemonConfig.Transport transport = transport();
        TenantIsolation.Settings isolation = isolation();
        boolean rateLimits = bool(Variable.RATE_LIMITS);
        Optional<Path> auditLogFile = "stderr".equals(raw(Variable.AUDIT_LOG_FILE)) || dataRoot == null ? Optional.empty()
                : Optional.ofNullable(path(Variable.AUDIT_LOG_FILE, dataRoot.resolve("global/audit/audit.log")));
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        return new DaemonConfig(bind, port, backends.get(artifactsKind), backends.get(logsKind), backends.get(cachesKind), mount, breaker, abandonedUploadAge, layout,
                adminToken, metadata, lease, maxLease, check, encryption, quotas, cachePolicy,
                buildToolMaxEntryBytes, cacheTiers, new CoreConfig.Janitor(janitorInterval, orphanGrace), scrub, replication, backup,
                new CoreConfig.Cluster(jobLease), advertiseUrl, transport, isolation, rateLimits, auditLogFile);
    }

    /** HTTPS and mutual TLS of the API; the command-line tools trust the daemon's own chain unless told otherwise. */
    private DaemonConfig.Transport transport() {
        Optional<Path> cert = existingFile(Variable.TLS_CERT_FILE);
        Optional<Path> key = existingFile(Variable.TLS_KEY_FILE);
        Optional<Path> clientCa = existingFile(Variable.TLS_CLIENT_CA_FILE);
        TlsSettings.ClientAuth clientAuth = convert(Variable.TLS_CLIENT_AUTH, "use need or want", TlsSettings.ClientAuth::parse);
        Duration reload = seconds(Variable.TLS_RELOAD_SECONDS);
        if (cert.isPresent() != key.isPresent()) {
            problems.add("set both " + Variable.TLS_CERT_FILE.envName() + " and " + Variable.TLS_KEY_FILE.envName() + ", or neither");
        }
        if (clientCa.isPresent() && cert.isEmpty()) {
            problems.add(Variable.TLS_CLIENT_CA_FILE.envName() + " needs " + Variable.TLS_CERT_FILE.envName()
                    + ": client certificates are only asked for over HTTPS");
        }
        if (raw(Variable.TLS_CLIENT_AUTH) != null && clientCa.isEmpty()) {
            problems.add(Variable.TLS_CLIENT_AUTH.envName() + " is set but " + Variable.TLS_CLIENT_CA_FILE.envName()
                    + " is not: without a client CA no client certificate is asked for");
        }
        Optional<Path> cliCert = existingFile(Variable.CLI_TLS_CERT_FILE);
        Optional<Path> cliKey = existingFile(Variable.CLI_TLS_KEY_FILE);
        if (cliCert.isPresent() != cliKey.isPresent()) {
            problems.add("set both " + Variable.CLI_TLS_CERT_FILE.envName() + " and " + Variable.CLI_TLS_KEY_FILE.envName() + ", or neither");
            cliCert = Optional.empty();
            cliKey = Optional.empty();
        }
        Optional<TlsSettings> tls = cert.isPresent() && key.isPresent()
                ? Optional.of(new TlsSettings(cert.get(), key.get(), clientCa, clientAuth, reload)) : Optional.empty();
        return new DaemonConfig.Transport(tls, bool(Variable.ALLOW_PLAIN_HTTP),
                new StorageTls(existingFile(Variable.CLI_TLS_CA_FILE).or(() -> cert), cliCert, cliKey));
    }

    private TenantIsolation.Settings isolation() {
        String prefix = text(Variable.TENANT_ACCOUNT_PREFIX);
        TenantIsolation.WorkspaceOwner owner = convert(Variable.WORKSPACE_OWNER, "use service or tenant",
                TenantIsolation.WorkspaceOwner::parse);
        try {
            return new TenantIsolation.Settings(prefix, owner == null ? TenantIsolation.WorkspaceOwner.SERVICE : owner);
        } catch (IllegalArgumentException e) {
            problems.add(Variable.TENANT_ACCOUNT_PREFIX.envName() + "='" + prefix + "' is invalid: " + e.getMessage());
            return null;
        }
    }

    /**
     * The caches' memory tier when {@link Variable#CACHE_MEMORY_TIER_MB} is not set: 256 MiB, or a
     * quarter of a smaller heap (whole MiB), so that a daemon started with a small {@code -Xmx}
     * keeps room for its requests' buffers (a 512 MiB heap with a 256 MiB tier ran out of memory
     * under 16 concurrent 1 MiB cache uploads).
     */
    static long defaultMemoryTierBytes(long maxHeapBytes) {
        return Math.min(256L << 20, (maxHeapBytes / 4) >> 20 << 20);
    }

    /**
     * The tiers in front of the caches' backend. The disk tier's directory must stay out of the
     * tenant trees, which quotas measure and purges delete.
     */
    private TieredBlobStore.Settings cacheTiers(Layout layout) {
        int problemsBefore = problems.size();
        long memoryBytes = raw(Variable.CACHE_MEMORY_TIER_MB) == null ? defaultMemoryTierBytes(Runtime.getRuntime().maxMemory())
                : (long) integer(Variable.CACHE_MEMORY_TIER_MB, 0, 1 << 20) << 20;
        int maxEntryBytes = integer(Variable.CACHE_MEMORY_TIER_MAX_ENTRY_KB, 1, 1 << 20) << 10;
        long diskBytes = (long) integer(Variable.CACHE_DISK_TIER_MB, 0, Integer.MAX_VALUE) << 20;
        Duration timeout = seconds(Variable.CACHE_REMOTE_TIMEOUT_SECONDS);
        Path diskDirectory = layout == null ? null
                : path(Variable.CACHE_DISK_TIER_DIR, layout.dataRoot().resolve("global/system-temp/cache-tier"));
        if (memoryBytes > 0 && maxEntryBytes > memoryBytes) {
            problems.add(Variable.CACHE_MEMORY_TIER_MAX_ENTRY_KB.envName() + " (" + (maxEntryBytes >> 10) + ") must not exceed "
                    + Variable.CACHE_MEMORY_TIER_MB.envName() + " (" + (memoryBytes >> 20) + " MiB)");
        }
        if (memoryBytes > Runtime.getRuntime().maxMemory() / 2) {
            LOG.warn("{} ({}) is more than half of the heap ({} MiB): lower it, or give the daemon more with -Xmx in BUILDERD_JAVA_OPTS",
                    Variable.CACHE_MEMORY_TIER_MB.envName(), memoryBytes >> 20, Runtime.getRuntime().maxMemory() >> 20);
        }
        if (diskDirectory != null) {
            for (Path root : layout.tenantRoots()) {
                if (diskDirectory.startsWith(root.resolve("tenants"))) {
                    problems.add(Variable.CACHE_DISK_TIER_DIR.envName() + "='" + diskDirectory + "' is inside the tenant tree "
                            + root.resolve("tenants") + ": choose a directory outside it");
                }
            }
        }
        if (problems.size() > problemsBefore || diskDirectory == null) {
            return null;
        }
        return new TieredBlobStore.Settings(memoryBytes, maxEntryBytes,
                diskBytes == 0 ? Optional.empty() : Optional.of(diskDirectory), diskBytes, timeout);
    }

    /** The master key from a file (the default, in the layout's key directory) or from MASTER_KEY; the rotation interval. */
    private EncryptionConfig encryption(Layout layout) {
        Duration rotation = Duration.ofDays(integer(Variable.KEY_ROTATION_DAYS, 0, 3650));
        String given = raw(Variable.MASTER_KEY);
        if (given != null) {
            if (raw(Variable.MASTER_KEY_FILE) != null) {
                problems.add("set either " + Variable.MASTER_KEY.envName() + " or " + Variable.MASTER_KEY_FILE.envName() + ", not both");
                return null;
            }
            try {
                return new EncryptionConfig(new EncryptionConfig.MasterKeyOrigin.Given(
                        FixedMasterKey.fromJson(given, Variable.MASTER_KEY.envName())), rotation);
            } catch (IllegalArgumentException e) {
                problems.add(e.getMessage());
                return null;
            }
        }
        if (layout == null) {
            return null;
        }
        Path file = path(Variable.MASTER_KEY_FILE, layout.encryptionKeyDirectory().resolve(TenantKeys.MASTER_KEY_FILE));
        return file == null ? null : new EncryptionConfig(new EncryptionConfig.MasterKeyOrigin.KeyFile(file), rotation);
    }

    private void warnAboutUnknownVariables() {
        env.keySet().stream()
                .filter(name -> name.startsWith(Variable.PREFIX) && Variable.byEnvName(name).isEmpty())
                .sorted()
                .forEach(name -> LOG.warn("{} is set but not used by this version; see --help for the variables it reads", name));
    }

    private String raw(Variable variable) {
        String value = env.get(variable.envName());
        return value == null || value.isBlank() ? null : value.strip();
    }

    private String text(Variable variable) {
        String value = raw(variable);
        return value == null ? variable.defaultValue() : value;
    }

    private <T> T convert(Variable variable, String accepted, Function<String, T> converter) {
        String value = text(variable);
        try {
            return converter.apply(value);
        } catch (RuntimeException e) {
            problems.add(variable.envName() + "='" + value + "' is invalid: " + accepted);
            return null;
        }
    }

    private int integer(Variable variable, int min, int max) {
        Integer value = convert(variable, "use a whole number from " + min + " to " + max, text -> {
            int parsed = Integer.parseInt(text);
            if (parsed < min || parsed > max) {
                throw new IllegalArgumentException();
            }
            return parsed;
        });
        return value == null ? 0 : value;
    }

    private Duration seconds(Variable variable) {
        return convert(variable, "use a whole number of seconds from 1 to 31536000", text -> {
            long parsed = Long.parseLong(text);
            if (parsed < 1 || parsed > 31_536_000) {
                throw new IllegalArgumentException();
            }
            return Duration.ofSeconds(parsed);
        });
    }

    private Path path(Variable variable, Path fallback) {
        String value = raw(variable);
        if (value == null) {
            return fallback != null ? fallback : absolute(variable, variable.defaultValue());
        }
        return absolute(variable, value);
    }

    private Path absolute(Variable variable, String value) {
        try {
            return Path.of(value).toAbsolutePath().normalize();
        } catch (InvalidPathException e) {
            problems.add(variable.envName() + "='" + value + "' is not a valid path: " + e.getReason());
            return null;
        }
    }

    /** The backend kinds, each with the prefix of its own variables (null: no variables of its own). */
    private static final Map<String, String> KINDS = Map.of(
            "filesystem", "", "nfs", "NFS_", "iscsi", "ISCSI_", "s3", "S3_", "minio", "MINIO_", "ceph", "CEPH_", "gcs", "GCS_", "azure", "AZURE_");

    private String kind(Variable variable, String value) {
        String kind = value.strip().toLowerCase(Locale.ROOT);
        if (kind.equals("local")) {
            return "filesystem";
        }
        if (!KINDS.containsKey(kind)) {
            problems.add(variable.envName() + "='" + value + "' is not supported: use filesystem (or its alias local), "
                    + "nfs, iscsi, s3, minio, ceph, gcs or azure");
            return null;
        }
        return kind;
    }

    /** A category's backend kind; the network filesystems are local files as far as blobs go. */
    private String categoryKind(Variable variable, String storageKind) {
        String kind = raw(variable) == null ? storageKind : kind(variable, raw(variable));
        return kind == null || kind.equals("nfs") || kind.equals("iscsi") ? (kind == null ? null : "filesystem") : kind;
    }

    private Optional<NetworkMount> networkMount(String storageKind) {
        if ("nfs".equals(storageKind)) {
            String server = required(Variable.NFS_SERVER, "nfs");
            String path = required(Variable.NFS_PATH, "nfs");
            List<String> options = List.of(text(Variable.NFS_OPTIONS).split(","));
            return server == null || path == null ? Optional.empty() : Optional.of(new NetworkMount.Nfs(server, path, options));
        }
        if ("iscsi".equals(storageKind)) {
            String target = required(Variable.ISCSI_TARGET, "iscsi");
            String portal = required(Variable.ISCSI_PORTAL, "iscsi");
            return target == null || portal == null ? Optional.empty() : Optional.of(new NetworkMount.Iscsi(target, portal,
                    text(Variable.ISCSI_FILESYSTEM), Path.of("/dev/disk/by-path")));
        }
        return Optional.empty();
    }

    private BlobBackend blobBackend(String kind) {
        try {
            return switch (kind) {
                case "filesystem" -> new BlobBackend.Local();
                case "s3" -> s3();
                case "minio" -> minio();
                case "ceph" -> ceph();
                case "gcs" -> gcs();
                case "azure" -> azure();
                default -> throw new IllegalStateException("unhandled backend " + kind);
            };
        } catch (MissingVariable e) {
            return null;
        } catch (IllegalArgumentException e) {
            problems.add("the " + kind + " backend's settings are invalid: " + e.getMessage());
            return null;
        }
    }

    private BlobBackend s3() {
        requireAll("s3", Variable.S3_BUCKET, Variable.S3_ACCESS_KEY_ID, Variable.S3_SECRET_ACCESS_KEY);
        Optional<URI> endpoint = Optional.ofNullable(raw(Variable.S3_ENDPOINT)).map(URI::create);
        boolean pathStyle = raw(Variable.S3_PATH_STYLE) == null ? endpoint.isPresent() : bool(Variable.S3_PATH_STYLE);
        return new BlobBackend.S3("s3", new S3Settings(raw(Variable.S3_BUCKET), text(Variable.S3_REGION), endpoint,
                pathStyle, raw(Variable.S3_ACCESS_KEY_ID), raw(Variable.S3_SECRET_ACCESS_KEY),
                S3Settings.Encryption.parse(text(Variable.S3_ENCRYPTION)), Optional.ofNullable(raw(Variable.S3_KMS_KEY_ID)),
                parallelIo(), timeouts(), tls(endpoint), ""));
    }

    private BlobBackend minio() {
        requireAll("minio", Variable.MINIO_ENDPOINT, Variable.MINIO_BUCKET, Variable.MINIO_ACCESS_KEY, Variable.MINIO_SECRET_KEY);
        URI endpoint = URI.create(raw(Variable.MINIO_ENDPOINT));
        return new BlobBackend.S3("minio", new S3Settings(raw(Variable.MINIO_BUCKET), "us-east-1", Optional.of(endpoint),
                true, raw(Variable.MINIO_ACCESS_KEY), raw(Variable.MINIO_SECRET_KEY),
                S3Settings.Encryption.NONE, Optional.empty(), parallelIo(), timeouts(), tls(Optional.of(endpoint)), ""));
    }

    private BlobBackend ceph() {
        requireAll("ceph", Variable.CEPH_MONITORS, Variable.CEPH_POOL);
        return new BlobBackend.Ceph(new CephSettings(raw(Variable.CEPH_MONITORS), raw(Variable.CEPH_POOL), text(Variable.CEPH_USER),
                existingFile(Variable.CEPH_KEYRING), existingFile(Variable.CEPH_CONF), "",
                integer(Variable.CEPH_STRIPE_SIZE_MB, 1, 64) << 20, parallelIo(), timeouts()));
    }

    private BlobBackend gcs() {
        requireAll("gcs", Variable.GCS_BUCKET);
        return new BlobBackend.Gcs(new GcsSettings(raw(Variable.GCS_BUCKET), Optional.ofNullable(raw(Variable.GCS_PROJECT)),
                Optional.ofNullable(raw(Variable.GCS_CREDENTIALS_FILE)).map(Path::of),
                Optional.ofNullable(raw(Variable.GCS_ENDPOINT)).map(URI::create), parallelIo(), timeouts(), Optional.empty()));
    }

    private BlobBackend azure() {
        requireAll("azure", Variable.AZURE_ACCOUNT, Variable.AZURE_CONTAINER, Variable.AZURE_ACCESS_KEY);
        Optional<URI> endpoint = Optional.ofNullable(raw(Variable.AZURE_ENDPOINT)).map(URI::create);
        return new BlobBackend.Azure(new AzureSettings(raw(Variable.AZURE_ACCOUNT), raw(Variable.AZURE_CONTAINER),
                raw(Variable.AZURE_ACCESS_KEY), endpoint, parallelIo(), timeouts(), tls(endpoint), ""));
    }

    /**
     * A backend given as one URL in {@code url}, with its secrets in variables of their own (so
     * that they never show in a URL that gets logged): {@code file:///abs/dir},
     * {@code s3://bucket[/prefix/][?endpoint=http://host:port&region=r&path_style=true]} (keys from
     * {@code s3AccessKeyId} and {@code s3SecretAccessKey}), or
     * {@code azure://account/container[/prefix/][?endpoint=http://host:port/account]} (key from
     * {@code azureAccessKey}). The remote ones use the parallel I/O, timeouts and TLS settings of
     * the storage backends. For targets such as the replica and backups; each names its own
     * variables, and every problem names the variable at fault.
     *
     * @return empty when {@code url} is not set (or is invalid: the problem is recorded)
     */
    private Optional<BlobBackend> target(Variable url, Variable s3AccessKeyId, Variable s3SecretAccessKey, Variable azureAccessKey) {
        String value = raw(url);
        if (value == null) {
            return Optional.empty();
        }
        URI uri;
        try {
            uri = new URI(value);
        } catch (java.net.URISyntaxException e) {
            problems.add(url.envName() + " is not a URL: " + e.getMessage());
            return Optional.empty();
        }
        if (uri.getRawUserInfo() != null) {
            problems.add(url.envName() + " must carry no credentials (user info); put them in " + s3AccessKeyId.envName() + " and "
                    + s3SecretAccessKey.envName() + ", or " + azureAccessKey.envName());
            return Optional.empty();
        }
        Map<String, String> query = query(uri);
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        String path = uri.getPath() == null ? "" : uri.getPath();
        try {
            return Optional.of(switch (scheme) {
                case "file" -> {
                    if (uri.getAuthority() != null || !path.startsWith("/") || !query.isEmpty()) {
                        throw new IllegalArgumentException("use file:///absolute/directory, without host or query");
                    }
                    yield new BlobBackend.Directory(Path.of(path).normalize());
                }
                case "s3" -> {
                    unknownParameters(query, "endpoint", "region", "path_style");
                    String accessKeyId = required(s3AccessKeyId, "s3:// target of " + url.envName());
                    String secret = required(s3SecretAccessKey, "s3:// target of " + url.envName());
                    if (accessKeyId == null || secret == null) {
                        throw new MissingVariable();
                    }
                    Optional<URI> endpoint = Optional.ofNullable(query.get("endpoint")).map(URI::create);
                    boolean pathStyle = query.containsKey("path_style") ? Boolean.parseBoolean(query.get("path_style")) : endpoint.isPresent();
                    yield new BlobBackend.S3("s3", new S3Settings(uri.getHost(), query.getOrDefault("region", "us-east-1"), endpoint,
                            pathStyle, accessKeyId, secret, S3Settings.Encryption.NONE, Optional.empty(), parallelIo(), timeouts(),
                            tls(endpoint), prefix(path)));
                }
                case "azure" -> {
                    unknownParameters(query, "endpoint");
                    String key = required(azureAccessKey, "azure:// target of " + url.envName());
                    if (key == null) {
                        throw new MissingVariable();
                    }
                    String[] containerAndPrefix = path.replaceFirst("^/", "").split("/", 2);
                    Optional<URI> endpoint = Optional.ofNullable(query.get("endpoint")).map(URI::create);
                    yield new BlobBackend.Azure(new AzureSettings(String.valueOf(uri.getHost()), containerAndPrefix[0], key, endpoint,
                            parallelIo(), timeouts(), tls(endpoint), prefix(containerAndPrefix.length > 1 ? containerAndPrefix[1] : "")));
                }
                default -> throw new IllegalArgumentException("use a file://, s3:// or azure:// URL");
            });
        } catch (MissingVariable e) {
            return Optional.empty();
        } catch (IllegalArgumentException e) {
            // The URL carries no secret (see above), so it can be shown.
            problems.add(url.envName() + "='" + value + "' is invalid: " + e.getMessage());
            return Optional.empty();
        }
    }

    private DaemonConfig.Backup backup() {
        Optional<BlobBackend> target = target(Variable.BACKUP_TARGET, Variable.BACKUP_S3_ACCESS_KEY_ID,
                Variable.BACKUP_S3_SECRET_ACCESS_KEY, Variable.BACKUP_AZURE_ACCESS_KEY);
        Optional<com.cronutils.model.Cron> schedule = Optional.ofNullable(convert(Variable.BACKUP_SCHEDULE,
                "use a cron expression of five fields (minute hour day-of-month month day-of-week, UTC), such as '0 2 * * *',"
                        + " or off", ConfigParser::cron));
        BackupService.Retention retention = BackupService.Retention.DEFAULTS;
        try {
            retention = new BackupService.Retention(integer(Variable.BACKUP_KEEP_LAST, 1, 100_000),
                    integer(Variable.BACKUP_KEEP_DAILY, 0, 100_000), integer(Variable.BACKUP_KEEP_WEEKLY, 0, 100_000),
                    integer(Variable.BACKUP_KEEP_MONTHLY, 0, 100_000));
        } catch (dev.builderd.storage.core.error.InvalidInputException invalid) {
            // a value out of range: integer() recorded which
        }
        return new DaemonConfig.Backup(target, schedule, retention);
    }

    /** A cron expression of the classic five fields, or null for {@code off}. */
    private static com.cronutils.model.Cron cron(String expression) {
        if (expression.equalsIgnoreCase("off")) {
            return null;
        }
        return new com.cronutils.parser.CronParser(com.cronutils.model.definition.CronDefinitionBuilder.instanceDefinitionFor(
                com.cronutils.model.CronType.UNIX)).parse(expression).validate();
    }

    /** A URL path as a key prefix: empty, or without its leading {@code /} and with a trailing one. */
    private static String prefix(String path) {
        String relative = path.replaceFirst("^/+", "");
        return relative.isEmpty() || relative.endsWith("/") ? relative : relative + "/";
    }

    /** The query parameters of a target URL (decoded; a repeated one keeps its last value). */
    private static Map<String, String> query(URI uri) {
        Map<String, String> parameters = new TreeMap<>();
        if (uri.getRawQuery() == null || uri.getRawQuery().isEmpty()) {
            return parameters;
        }
        for (String pair : uri.getRawQuery().split("&")) {
            String[] nameValue = pair.split("=", 2);
            parameters.put(java.net.URLDecoder.decode(nameValue[0], java.nio.charset.StandardCharsets.UTF_8),
                    nameValue.length > 1 ? java.net.URLDecoder.decode(nameValue[1], java.nio.charset.StandardCharsets.UTF_8) : "");
        }
        return parameters;
    }

    private static void unknownParameters(Map<String, String> query, String... known) {
        java.util.Set<String> unknown = new java.util.TreeSet<>(query.keySet());
        List.of(known).forEach(unknown::remove);
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException("unknown parameter(s) " + unknown + "; known: " + String.join(", ", known));
        }
    }

    private ParallelIo parallelIo() {
        int problemsBefore = problems.size();
        int workers = integer(Variable.IO_WORKERS, 1, 64);
        int partSize = integer(Variable.IO_PART_SIZE_MB, 5, 512) << 20;
        int bufferSize = integer(Variable.IO_BUFFER_SIZE_KB, 4, 65536) << 10;
        if (problems.size() > problemsBefore) {
            throw new MissingVariable();
        }
        return new ParallelIo(workers, partSize, bufferSize);
    }

    private RemoteTimeouts timeouts() {
        int problemsBefore = problems.size();
        Duration connect = seconds(Variable.STORAGE_CONNECT_TIMEOUT_SECONDS);
        Duration request = seconds(Variable.STORAGE_REQUEST_TIMEOUT_SECONDS);
        int attempts = integer(Variable.STORAGE_MAX_ATTEMPTS, 1, 10);
        if (problems.size() > problemsBefore) {
            throw new MissingVariable();
        }
        return new RemoteTimeouts(connect, request, attempts);
    }

    /** The storage TLS settings, when enabled; an {@code http://} endpoint with TLS enabled is a mistake worth stopping for. */
    private StorageTls tls(Optional<URI> endpoint) {
        if (!bool(Variable.STORAGE_TLS_ENABLED)) {
            return StorageTls.platformDefaults();
        }
        if (endpoint.isPresent() && !"https".equals(endpoint.get().getScheme())) {
            problems.add(Variable.STORAGE_TLS_ENABLED.envName() + " is true but the backend endpoint " + endpoint.get()
                    + " is not https://");
        }
        return new StorageTls(existingFile(Variable.STORAGE_TLS_CA_FILE), existingFile(Variable.STORAGE_TLS_CERT_FILE),
                existingFile(Variable.STORAGE_TLS_KEY_FILE));
    }

    private Optional<Path> existingFile(Variable variable) {
        String value = raw(variable);
        if (value == null) {
            return Optional.empty();
        }
        Path file = Path.of(value);
        if (!Files.isReadable(file)) {
            problems.add(variable.envName() + "='" + value + "' is not a readable file");
        }
        return Optional.of(file);
    }

    private boolean bool(Variable variable) {
        Boolean value = convert(variable, "use true or false", text -> switch (text.toLowerCase(Locale.ROOT)) {
            case "true", "1", "yes" -> true;
            case "false", "0", "no" -> false;
            default -> throw new IllegalArgumentException();
        });
        return Boolean.TRUE.equals(value);
    }

    /** Signals that a variable a backend needs is missing or invalid; the problem is already recorded. */
    private static final class MissingVariable extends RuntimeException {
        MissingVariable() {
            super(null, null, false, false);
        }
    }

    /** Records every missing variable of {@code backend}, then stops building it if any was missing. */
    private void requireAll(String backend, Variable... variables) {
        boolean missing = false;
        for (Variable variable : variables) {
            missing |= required(variable, backend) == null;
        }
        if (missing) {
            throw new MissingVariable();
        }
    }

    private String required(Variable variable, String backend) {
        String value = raw(variable);
        if (value == null) {
            problems.add(variable.envName() + " is required by the " + backend + " backend");
        }
        return value;
    }

    private void warnAboutUnusedBackendVariables(String storageKind, java.util.Set<String> used) {
        KINDS.forEach((kind, prefix) -> {
            if (prefix.isEmpty() || used.contains(kind) || kind.equals(storageKind)) {
                return;
            }
            env.keySet().stream().filter(name -> name.startsWith(Variable.PREFIX + prefix)).sorted().forEach(name ->
                    LOG.warn("{} is set but no category uses the {} backend (the storage backend is {}); it is ignored",
                            name, kind, storageKind));
        });
    }

    private Optional<DaemonConfig.Secret> adminToken() {
        String value = raw(Variable.ADMIN_TOKEN);
        if (value == null) {
            return Optional.empty();
        }
        if (value.length() < 16 || value.length() > 256 || !value.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
            problems.add(Variable.ADMIN_TOKEN.envName() + " is invalid: use 16 to 256 printable ASCII characters without spaces");
            return Optional.empty();
        }
        return Optional.of(new DaemonConfig.Secret(value));
    }

    private MetadataLocation metadata(Path dataRoot) {
        String value = raw(Variable.METADATA_URL);
        if (value == null) {
            return dataRoot == null ? null : MetadataLocation.sqlite(dataRoot.resolve("metadata").resolve("builderd.db"));
        }
        try {
            return MetadataLocation.parse(value);
        } catch (IllegalArgumentException e) {
            problems.add(Variable.METADATA_URL.envName() + " is invalid: " + e.getMessage());
            return null;
        }
    }
}
