package dev.builderd.storage.server.config;

import dev.builderd.storage.blob.StorageTls;
import dev.builderd.storage.blob.TieredBlobStore;
import dev.builderd.storage.core.CacheService;
import dev.builderd.storage.core.CoreConfig;
import dev.builderd.storage.core.Layout;
import dev.builderd.storage.core.crypto.EncryptionConfig;
import dev.builderd.storage.core.fs.TenantIsolation;
import dev.builderd.storage.core.quota.Quotas;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.server.mount.NetworkMount;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;

/**
 * The daemon's whole configuration, parsed once from the environment by {@link ConfigParser}.
 *
 * @param artifacts where build artifacts live
 * @param logs where build logs live
 * @param caches where tenants' build caches live
 * @param abandonedUploadAge unfinished remote uploads older than this are aborted
 * @param dataRootMount the network filesystem the data root must be on ({@code nfs}, {@code iscsi})
 * @param adminToken empty when it is to be read from, or generated into, {@code config/admin.token}
 * @param encryption the master key and the rotation of tenant keys
 * @param quotas soft limit, hard limit action, throttle wait, scan and reconciliation intervals
 * @param cachePolicy how cache entries are evicted and expired
 * @param buildToolMaxEntryBytes the largest entry the build-tool cache protocols accept
 * @param cacheTiers the memory and disk tiers in front of the caches' backend, and its read timeout
 * @param janitor how often the lifecycle janitor runs, and the orphans' grace period
 * @param scrub how often the integrity scrub reads every blob, and how fast
 * @param replication where blobs are replicated to, if anywhere, and how
 * @param backup where tenants are backed up to, if anywhere, when, and what a prune keeps
 * @param cluster how this node shares background jobs with others on the same PostgreSQL
 * @param advertiseUrl how clients and other nodes reach this node; empty: {@code http://} the bind
 *     address (the host name when it is a wildcard) and the port the API listens on
 * @param transport HTTPS and mutual TLS of the API, and the command-line tools' TLS towards it
 * @param isolation the tenant groups of the trees' ACLs, and who owns the workspaces builds are handed
 * @param rateLimits whether tenants' API traffic is held to their fairness limits
 * @param auditLogFile the file the audit log goes to; empty: the daemon's log (stderr)
 */
public record DaemonConfig(
        String bindAddress,
        int port,
        BlobBackend artifacts,
        BlobBackend logs,
        BlobBackend caches,
        Optional<NetworkMount> dataRootMount,
        Breaker breaker,
        Duration abandonedUploadAge,
        Layout layout,
        Optional<Secret> adminToken,
        MetadataLocation metadata,
        Duration buildLease,
        Duration maxBuildLease,
        Duration leaseCheckInterval,
        EncryptionConfig encryption,
        Quotas.Config quotas,
        CacheService.Policy cachePolicy,
        long buildToolMaxEntryBytes,
        TieredBlobStore.Settings cacheTiers,
        CoreConfig.Janitor janitor,
        Scrub scrub,
        Replication replication,
        Backup backup,
        CoreConfig.Cluster cluster,
        Optional<String> advertiseUrl,
        Transport transport,
        TenantIsolation.Settings isolation,
        boolean rateLimits,
        Optional<Path> auditLogFile) {

    /**
     * How the API is reached ({@code docs/security-transport.md}).
     *
     * @param tls HTTPS settings; empty: plain HTTP
     * @param allowPlainHttp whether plain HTTP may be served on an address other than loopback
     * @param cli what the command-line tools trust and present when they call the daemon over HTTPS
     */
    public record Transport(Optional<dev.builderd.storage.server.tls.TlsSettings> tls, boolean allowPlainHttp, StorageTls cli) {
    }

    /**
     * Backups ({@code docs/backups.md}).
     *
     * @param target the backup target; empty: backups are off
     * @param schedule when every tenant is backed up and the target pruned; empty: only on demand
     * @param retention what a prune keeps unless told otherwise
     */
    public record Backup(Optional<BlobBackend> target, Optional<com.cronutils.model.Cron> schedule,
            dev.builderd.storage.core.BackupService.Retention retention) {
    }

    /**
     * Asynchronous replication to a second backend.
     *
     * @param target the replica's backend; empty: no replication
     * @param caches whether caches are replicated too (artifacts and logs always are)
     * @param schedule the delete delay and the repair job's interval
     */
    public record Replication(Optional<BlobBackend> target, boolean caches, CoreConfig.Replication schedule) {
    }

    /** A scrub pass every {@code interval} (zero: never), reading at most {@code bytesPerSecond}. */
    public record Scrub(Duration interval, long bytesPerSecond) {
    }

    /** When remote backends fail fast: after {@code failures} in a row, for {@code open}. */
    public record Breaker(int failures, Duration open) {
    }

    /** A secret value that never shows in {@code toString()}. */
    public record Secret(String value) {
        @Override
        public String toString() {
            return "****";
        }
    }

    public Path dataRoot() {
        return layout.dataRoot();
    }
}
