package dev.builderd.storage.server.config;

import java.util.Arrays;
import java.util.Optional;

/**
 * Every environment variable the daemon reads, with its default and meaning: the single list
 * that parsing, {@code --help} and the documentation come from.
 */
public enum Variable {
    PORT("8082", "TCP port of the HTTP API (0 picks a free port)"),
    BIND_ADDRESS("0.0.0.0", "address the HTTP API listens on"),
    TLS_CERT_FILE("(none: plain HTTP)", "serve the API over HTTPS (TLS 1.2 and 1.3) with this PEM certificate chain, the server's"
            + " certificate first; re-read when it changes (docs/security-transport.md)"),
    TLS_KEY_FILE("(none)", "the private key of TLS_CERT_FILE (PEM, unencrypted PKCS#8: RSA, EC or Ed25519)"),
    TLS_CLIENT_CA_FILE("(none: no client certificates)", "mutual TLS: CA bundle (PEM) that client certificates must chain to;"
            + " a certificate with the URI name builderd:tenant:<tenant> authenticates as that tenant"),
    TLS_CLIENT_AUTH("need", "mutual TLS: need (a client without a certificate from TLS_CLIENT_CA_FILE is refused in the"
            + " handshake) or want (a certificate is optional; without one a request needs a token)"),
    TLS_RELOAD_SECONDS("10", "how often the TLS files are checked; changed ones serve new connections, existing ones stay"),
    ALLOW_PLAIN_HTTP("false", "serve plain HTTP without TLS_CERT_FILE on an address other than loopback (true or false)"),
    CLI_TLS_CA_FILE("(the certificates of TLS_CERT_FILE)", "command-line tools: CA bundle (PEM) the daemon's certificate must chain to"),
    CLI_TLS_CERT_FILE("(none)", "command-line tools: client certificate (PEM) presented to a daemon that needs one"),
    CLI_TLS_KEY_FILE("(none)", "command-line tools: its private key (PEM, unencrypted PKCS#8)"),
    DATA_DIR("/var/lib/builderd", "data root holding tenants/, global/ and config/"),
    STORAGE_BACKEND("filesystem", "where durable data lives: filesystem (alias local), nfs, iscsi, s3, minio, ceph, gcs, azure"),
    ARTIFACTS_BACKEND("(the storage backend)", "backend of build artifacts, to route them apart from the rest"),
    LOGS_BACKEND("(the storage backend)", "backend of build logs, to route them apart from the rest"),
    CACHE_BACKEND("(the storage backend)", "backend of tenants' build caches, to route them apart from the rest"),
    SCRATCH_DIR("(data root)", "root of the tenant trees holding builds' temp/ directories"),
    WORKSPACE_DIR("(data root)", "root of the tenant trees holding builds' workspace/ directories"),
    ROOTFS_OUTPUT_DIR("(data root)", "root of the tenant trees holding builds' rootfs/ artifacts"),
    CACHE_DIR("(data root)", "root of the tenant trees holding cache/ directories"),
    TENANT_ACCOUNT_PREFIX("builderd-t-", "the system group (and, with WORKSPACE_OWNER=tenant, user) of tenant T is this prefix"
            + " followed by T; an existing group gets rwx in the ACL of T's trees (never created by the service)"),
    WORKSPACE_OWNER("service", "who owns a build's workspace/ and temp/: service (the daemon's user) or tenant (the tenant's"
            + " system user, so builds can run under a per-tenant UID; needs CAP_CHOWN, CAP_FOWNER, CAP_DAC_OVERRIDE and setfacl)"),
    SCRUB_INTERVAL_HOURS("24", "the integrity scrub re-reads every artifact and layer and checks its SHA-256 this often (0: never)"),
    SCRUB_MB_PER_SECOND("50", "the integrity scrub reads at most this many MiB per second"),
    REPLICA_TARGET("(none: no replication)", "replicate artifacts and logs (and caches, if enabled) asynchronously to this backend:"
            + " file:///abs/dir, s3://bucket/optional/prefix/?endpoint=http://host:9000&region=us-east-1, or"
            + " azure://account/container/optional/prefix/?endpoint=http://host:10000/account"),
    REPLICA_S3_ACCESS_KEY_ID("(none)", "s3:// replica target: access key id"),
    REPLICA_S3_SECRET_ACCESS_KEY("(none)", "s3:// replica target: secret access key"),
    REPLICA_AZURE_ACCESS_KEY("(none)", "azure:// replica target: the account's shared key"),
    REPLICATION_CACHES("false", "also replicate tenants' caches and the global registry cache (true or false)"),
    REPLICATION_DELETE_DELAY_HOURS("24", "a blob deleted in the primary is deleted in the replica this much later (0: at once),"
            + " so that a mistaken purge can be undone from the replica"),
    REPLICATION_REPAIR_INTERVAL_HOURS("24", "the repair job compares primary and replica and enqueues every difference this often"
            + " (0: only on demand)"),
    BACKUP_TARGET("(none: no backups)", "back tenants up into this backend (another disk, bucket or region): file:///abs/dir,"
            + " s3://bucket/optional/prefix/?endpoint=http://host:9000&region=us-east-1, or"
            + " azure://account/container/optional/prefix/?endpoint=http://host:10000/account"),
    BACKUP_S3_ACCESS_KEY_ID("(none)", "s3:// backup target: access key id"),
    BACKUP_S3_SECRET_ACCESS_KEY("(none)", "s3:// backup target: secret access key"),
    BACKUP_AZURE_ACCESS_KEY("(none)", "azure:// backup target: the account's shared key"),
    BACKUP_SCHEDULE("0 2 * * *", "when to back every tenant up and then prune: a cron expression (minute hour day-of-month month"
            + " day-of-week, UTC), or off"),
    BACKUP_KEEP_LAST("1", "a backup prune keeps each existing tenant's newest N snapshots"),
    BACKUP_KEEP_DAILY("7", "a backup prune keeps the newest snapshot of each of the last N days"),
    BACKUP_KEEP_WEEKLY("4", "a backup prune keeps the newest snapshot of each of the last N weeks"),
    BACKUP_KEEP_MONTHLY("12", "a backup prune keeps the newest snapshot of each of the last N months"),
    LOG_FORMAT("text", "log lines on stderr: text, or json (one JSON object per line; a request's fields as keys)"),
    ADMIN_TOKEN("(generated into config/admin.token)", "bearer token of the operator; at least 16 characters"),
    METADATA_URL("sqlite:<data root>/metadata/builderd.db", "metadata store: sqlite:/path/file.db or postgresql://user:password@host:port/db"),
    S3_BUCKET("(none)", "s3 backend: the bucket (it must exist)"),
    S3_REGION("us-east-1", "s3 backend: the signing region"),
    S3_ACCESS_KEY_ID("(none)", "s3 backend: access key id"),
    S3_SECRET_ACCESS_KEY("(none)", "s3 backend: secret access key"),
    S3_ENCRYPTION("none", "s3 backend: server-side encryption: none, AES256 or aws:kms"),
    S3_KMS_KEY_ID("(account default)", "s3 backend: KMS key for aws:kms"),
    S3_ENDPOINT("(AWS)", "s3 backend: endpoint of an S3-compatible server, such as Ceph RGW"),
    S3_PATH_STYLE("(true with an endpoint)", "s3 backend: path-style requests (true or false)"),
    MINIO_ENDPOINT("(none)", "minio backend: the server, such as https://minio.example.com:9000"),
    MINIO_ACCESS_KEY("(none)", "minio backend: access key"),
    MINIO_SECRET_KEY("(none)", "minio backend: secret key"),
    MINIO_BUCKET("(none)", "minio backend: the bucket (it must exist)"),
    GCS_BUCKET("(none)", "gcs backend: the bucket (it must exist)"),
    GCS_PROJECT("(from the credentials)", "gcs backend: the project"),
    GCS_CREDENTIALS_FILE("(application default credentials)", "gcs backend: service-account JSON key file"),
    GCS_ENDPOINT("(Google)", "gcs backend: endpoint override"),
    AZURE_ACCOUNT("(none)", "azure backend: storage account"),
    AZURE_CONTAINER("(none)", "azure backend: container (it must exist)"),
    AZURE_ACCESS_KEY("(none)", "azure backend: the account's shared key"),
    AZURE_ENDPOINT("(https://<account>.blob.core.windows.net)", "azure backend: endpoint override, such as Azurite's"),
    CEPH_MONITORS("(none)", "ceph backend (native librados): monitor addresses, host[:port],..."),
    CEPH_POOL("(none)", "ceph backend: the RADOS pool (it must exist)"),
    CEPH_USER("admin", "ceph backend: the client name"),
    CEPH_KEYRING("(none)", "ceph backend: the cephx keyring file"),
    CEPH_CONF("(none)", "ceph backend: a ceph.conf read before the settings above"),
    CEPH_STRIPE_SIZE_MB("4", "ceph backend: bytes per RADOS object a blob is striped over (1 to 64)"),
    NFS_SERVER("(none)", "nfs backend: the server whose export the data root must be mounted from"),
    NFS_PATH("(none)", "nfs backend: the exported path"),
    NFS_OPTIONS("vers=4.1,hard", "nfs backend: mount options that must be in effect"),
    ISCSI_TARGET("(none)", "iscsi backend: the target IQN whose LUN holds the data root"),
    ISCSI_PORTAL("(none)", "iscsi backend: the portal, host:port"),
    ISCSI_FILESYSTEM("ext4", "iscsi backend: the filesystem on the LUN"),
    IO_WORKERS("4", "remote backends: parts in flight per large transfer"),
    IO_PART_SIZE_MB("16", "remote backends: part size of multipart uploads and ranged downloads (5 to 512)"),
    IO_BUFFER_SIZE_KB("1024", "remote backends: size of one read or write buffer"),
    STORAGE_CONNECT_TIMEOUT_SECONDS("5", "remote backends: connect timeout"),
    STORAGE_REQUEST_TIMEOUT_SECONDS("60", "remote backends: timeout of one request without progress"),
    STORAGE_MAX_ATTEMPTS("3", "remote backends: attempts for retryable errors (with backoff and jitter)"),
    STORAGE_BREAKER_FAILURES("5", "remote backends: consecutive failures that make requests fail fast (503)"),
    STORAGE_BREAKER_OPEN_SECONDS("30", "remote backends: how long they fail fast before one trial request"),
    STORAGE_ABANDONED_UPLOAD_HOURS("24", "remote backends: unfinished uploads older than this are aborted (hourly)"),
    STORAGE_TLS_ENABLED("false", "remote backends: apply the TLS files below to backend connections"),
    STORAGE_TLS_CERT_FILE("(none)", "client certificate (PEM) presented to backends"),
    STORAGE_TLS_KEY_FILE("(none)", "its private key (PEM, PKCS#8)"),
    STORAGE_TLS_CA_FILE("(platform trust store)", "CA bundle (PEM) that backend certificates must chain to"),
    MASTER_KEY_FILE("<data root>/config/encryption-keys/master.key", "master key wrapping every tenant's data keys (Tink AEAD keyset, JSON); created 0600 on first start"),
    MASTER_KEY("(none)", "the master key as a Tink AEAD keyset in JSON instead of a file (never logged; rotate it yourself)"),
    KEY_ROTATION_DAYS("90", "tenants' data keys older than this get a new primary key automatically (0: never)"),
    QUOTA_SOFT_LIMIT_PERCENT("80", "usage at or above this share of a limit is warned about (X-Quota-Warning, log, metric)"),
    QUOTA_HARD_LIMIT_ACTION("reject", "a write past a hard limit: reject (507 at once) or throttle (clean the cache, wait, then 507)"),
    QUOTA_THROTTLE_WAIT_SECONDS("30", "how long a throttled write waits for space"),
    QUOTA_CHECK_SECONDS("30", "how often active builds' workspace, temp and metadata directories are measured"),
    QUOTA_RECONCILE_SECONDS("600", "how often the quota ledger is compared with what the stores hold, and repaired"),
    CACHE_EVICTION_POLICY("lru", "which cache entries go first when a tenant's cache needs room: lru, fifo or random"),
    CACHE_MIN_RETENTION_SECONDS("0", "a cache entry younger than this is never evicted (a write that needs its room is refused)"),
    CACHE_MAX_RETENTION_DAYS("0", "a cache entry not read for this long expires (0: never)"),
    BUILD_TOOL_CACHE_MAX_ENTRY_MB("100", "the largest entry the build-tool cache protocols (Bazel, Gradle, ccache, Turborepo)"
            + " accept, in MiB (1 to 1048576); a larger one is refused with 413"),
    CACHE_MEMORY_TIER_MB("256", "memory tier of the caches: MiB of small, hot entries kept on the heap (0: off); unset, 256 or a quarter"
            + " of the heap, whichever is less"),
    CACHE_MEMORY_TIER_MAX_ENTRY_KB("1024", "memory tier: the largest entry it keeps"),
    CACHE_DISK_TIER_DIR("<data root>/global/system-temp/cache-tier", "disk tier of the caches in front of a remote cache backend (none when caches are on the filesystem)"),
    CACHE_DISK_TIER_MB("10240", "disk tier: MiB it keeps at most, least recently read evicted first (0: off)"),
    CACHE_REMOTE_TIMEOUT_SECONDS("5", "caches: how long the backend may take to answer a read; then it is degraded (503 unless a local tier has the entry)"),
    BUILD_LEASE_SECONDS("900", "how long a build stays active without a heartbeat, unless it asks for another lease"),
    MAX_BUILD_LEASE_SECONDS("86400", "the longest lease a build may ask for"),
    LEASE_CHECK_SECONDS("30", "how often expired build leases are looked for"),
    JANITOR_INTERVAL_SECONDS("3600", "time between two runs of the lifecycle janitor (retention policies, then the orphan sweep);"
            + " the first run starts in the background at start-up"),
    JOB_LEASE_SECONDS("30", "nodes sharing PostgreSQL: a cluster-wide background job (janitor, reconciliation, cache expiry,"
            + " scrub, key rotation, replication repair, build lease reaper) moves to another node this long after its node died"),
    ADVERTISE_URL("http(s)://<bind address or host name>:<port>", "how clients and other nodes reach this node's API: a request for"
            + " a build's workspace on another node is answered with the URL of the node that hosts it"),
    RATE_LIMITS("true", "per-tenant fairness limits on the API (requests per second, body bytes per second, requests in"
            + " flight; per tier, overridable per tenant; per node): true, or false to turn them off (docs/security-fairness.md)"),
    AUDIT_LOG_FILE("<data root>/global/audit/audit.log", "where the audit log (admin actions, cross-tenant denials; JSON lines)"
            + " is written, rotated daily and at 100 MiB, 90 days kept; stderr: into the daemon's log instead (docs/security-audit.md)"),
    ORPHAN_GRACE_SECONDS("3600", "how old a build's files without metadata, or an artifact row without its file, must be before"
            + " the orphan sweep deletes it");

    /** The prefix of every variable, kept from the original service. */
    public static final String PREFIX = "UNKEY_BUILDERD_";

    private final String defaultValue;
    private final String description;

    Variable(String defaultValue, String description) {
        this.defaultValue = defaultValue;
        this.description = description;
    }

    /** The full environment variable name, such as {@code UNKEY_BUILDERD_PORT}. */
    public String envName() {
        return PREFIX + name();
    }

    public String defaultValue() {
        return defaultValue;
    }

    public String description() {
        return description;
    }

    /** The variable called {@code envName}, if it is one of ours. */
    public static Optional<Variable> byEnvName(String envName) {
        return Arrays.stream(values()).filter(v -> v.envName().equals(envName)).findFirst();
    }

    /** A table of every variable with its default and meaning, for {@code --help} and docs. */
    public static String helpTable() {
        StringBuilder table = new StringBuilder();
        for (Variable variable : values()) {
            table.append(String.format("  %s (default: %s)%n      %s%n", variable.envName(), variable.defaultValue,
                    variable.description));
        }
        return table.toString();
    }
}
