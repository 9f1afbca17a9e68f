package dev.builderd.storage.server;

import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.BlobStoreProbe;
import dev.builderd.storage.blob.CircuitBreakingBlobStore;
import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.core.IntegrityScrub;
import dev.builderd.storage.core.BackupService;
import dev.builderd.storage.core.Replication;
import dev.builderd.storage.core.metadata.BackupRows;
import dev.builderd.storage.core.Stores;
import dev.builderd.storage.core.TenantEncryption;
import dev.builderd.storage.core.metadata.ScrubRows;
import dev.builderd.storage.core.TenantService;
import dev.builderd.storage.core.fs.TenantIsolation;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.quota.Usage;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.server.mount.MountGuard;
import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The specification's {@code /health/storage} report, from real figures: free and total space of
 * every local root, a write-read-verify-delete probe of every remote store (bounded by a
 * deadline, so a hanging backend shows as unhealthy instead of hanging the check), the circuit
 * breakers' state, the network mount the data root must be on, and, for the admin, each
 * tenant's usage against its quota.
 */
public final class StorageHealth {

    /** Free space below this share of a local filesystem makes the report degraded. */
    private static final double LOW_SPACE = 0.10;
    private static final Duration PROBE_DEADLINE = Duration.ofSeconds(3);
    private static final String PROBE_PREFIX = "global/health/";

    private final List<BlobStore> stores;
    private final List<Path> localRoots;
    private final Optional<MountGuard> mountGuard;
    private final TenantService tenants;
    private final TenantEncryption encryption;
    private final IntegrityScrub scrub;
    private final Optional<Replication> replication;
    private final Optional<BackupService> backups;
    private final TenantIsolation isolation;

    public StorageHealth(List<BlobStore> stores, List<Path> localRoots, Optional<MountGuard> mountGuard, TenantService tenants,
            TenantEncryption encryption, IntegrityScrub scrub, Optional<Replication> replication, Optional<BackupService> backups,
            TenantIsolation isolation) {
        this.isolation = isolation;
        this.scrub = scrub;
        this.replication = replication;
        this.backups = backups;
        this.stores = stores;
        this.localRoots = localRoots;
        this.mountGuard = mountGuard;
        this.tenants = tenants;
        this.encryption = encryption;
    }

    /** The report; tenants are included only for {@code admin}. */
    public Map<String, Object> report(Optional<Principal> caller) {
        Map<String, Object> backends = new LinkedHashMap<>();
        for (Path root : localRoots) {
            backends.put(localRoots.size() == 1 ? "filesystem" : "filesystem:" + root, filesystem(root));
        }
        for (BlobStore store : stores) {
            BlobStore primary = Stores.primaryOf(store);
            BlobStore inner = primary instanceof CircuitBreakingBlobStore breaker ? breaker.delegate() : primary;
            if (!(inner instanceof FileBlobStore)) {
                backends.put(primary.backendName(), remote(primary));
            }
        }
        boolean admin = caller.isPresent() && caller.get() instanceof Principal.Admin;
        Map<String, Object> keys = encryptionKeys(admin);
        Map<String, Object> report = new LinkedHashMap<>();
        Map<String, Object> integrity = integrity(admin);
        Map<String, Object> everything = new LinkedHashMap<>(backends);
        everything.put("encryption", keys);
        everything.put("integrity", integrity);
        Map<String, Object> directories = isolation(admin);
        everything.put("filesystem_isolation", directories);
        Optional<Map<String, Object>> replicated = replication.map(this::replication);
        replicated.ifPresent(entry -> everything.put("replication", entry));
        Optional<Map<String, Object>> backedUp = backups.map(StorageHealth::backups);
        backedUp.ifPresent(entry -> everything.put("backups", entry));
        report.put("status", overall(everything));
        report.put("backends", backends);
        report.put("encryption", keys);
        report.put("integrity", integrity);
        report.put("filesystem_isolation", directories);
        replicated.ifPresent(entry -> report.put("replication", entry));
        backedUp.ifPresent(entry -> report.put("backups", entry));
        if (admin) {
            Map<String, Object> usage = new LinkedHashMap<>();
            for (Usage tenant : tenants.usage(caller.get())) {
                usage.put(tenant.tenant().value(), Map.of(
                        "usage_bytes", tenant.usedBytes(),
                        "quota_bytes", tenant.limits().totalBytes(),
                        "usage_percent", round(100 * tenant.ratio()),
                        "state", tenant.state()));
            }
            report.put("tenants", usage);
        }
        return report;
    }

    private Map<String, Object> filesystem(Path root) {
        Map<String, Object> entry = new LinkedHashMap<>();
        try {
            FileStore store = Files.getFileStore(root);
            long total = store.getTotalSpace();
            long free = store.getUsableSpace();
            Optional<String> mountProblem = mountGuard.isPresent() ? mountGuard.get().problem() : Optional.empty();
            entry.put("status", mountProblem.isPresent() ? "unhealthy" : free < total * LOW_SPACE ? "degraded" : "healthy");
            entry.put("root", root.toString());
            entry.put("free_space_bytes", free);
            entry.put("total_space_bytes", total);
            entry.put("usage_percent", total == 0 ? 0.0 : round(100.0 * (total - free) / total));
            mountProblem.ifPresent(problem -> entry.put("error", problem));
        } catch (IOException e) {
            entry.put("status", "unhealthy");
            entry.put("root", root.toString());
            entry.put("error", e.getMessage());
        }
        return entry;
    }

    /** Degraded while some encrypted tenant's keys are unavailable (its data can be neither read nor written). */
    private Map<String, Object> encryptionKeys(boolean admin) {
        Map<TenantId, String> unavailable = encryption.unavailableKeys();
        Map<String, Object> entry = new LinkedHashMap<>();
        entry.put("status", unavailable.isEmpty() ? "healthy" : "degraded");
        entry.put("tenants_with_unavailable_keys", unavailable.size());
        if (admin && !unavailable.isEmpty()) {
            Map<String, String> reasons = new LinkedHashMap<>();
            unavailable.forEach((tenant, reason) -> reasons.put(tenant.value(), reason));
            entry.put("unavailable", reasons);
        }
        return entry;
    }

    /** Degraded while the integrity scrub has damaged blobs on record; which ones, for the admin. */
    private Map<String, Object> integrity(boolean admin) {
        List<ScrubRows.Finding> findings = scrub.findings();
        Map<String, Object> entry = new LinkedHashMap<>();
        entry.put("status", findings.isEmpty() ? "healthy" : "degraded");
        entry.put("corrupt_blobs", findings.size());
        if (admin && !findings.isEmpty()) {
            entry.put("corrupt", findingsJson(findings));
        }
        return entry;
    }

    /**
     * Degraded (never unhealthy: the primary serves) while the replica fails its probe or keys
     * fail to replicate; the lag, pending bytes and deletions waiting for their delay.
     */
    private Map<String, Object> replication(Replication replication) {
        Replication.Status status = replication.status();
        Map<String, Object> entry = new LinkedHashMap<>();
        List<String> problems = new java.util.ArrayList<>();
        for (BlobStore replica : replication.replicas()) {
            BlobStoreProbe.Result probe = BlobStoreProbe.probe(replica, PROBE_PREFIX, PROBE_DEADLINE);
            probe.problem().ifPresent(problem -> problems.add("the " + replica.backendName() + " replica: " + problem));
        }
        entry.put("status", problems.isEmpty() && status.failing() == 0 ? "healthy" : "degraded");
        entry.put("replicas", status.replicas());
        entry.put("pending", status.pending());
        entry.put("lag_seconds", status.lag().toMillis() / 1000.0);
        entry.put("lag_bytes", status.pendingBytes());
        entry.put("failing", status.failing());
        entry.put("deferred_deletes", status.deferredDeletes());
        if (!problems.isEmpty()) {
            entry.put("error", String.join("; ", problems));
        }
        return entry;
    }

    /**
     * Degraded (never unhealthy: serving goes on) while the backup target fails its probe, the
     * latest backup failed, or the last verify found damage.
     */
    private static Map<String, Object> backups(BackupService backups) {
        BackupService.Health health = backups.health(PROBE_DEADLINE);
        boolean lastFailed = health.lastBackup().map(run -> run.state().equals(BackupRows.FAILED)).orElse(false);
        Map<String, Object> entry = new LinkedHashMap<>();
        entry.put("status", health.targetProblem().isEmpty() && !lastFailed && health.verifyProblems() == 0 ? "healthy" : "degraded");
        entry.put("target", health.target());
        health.lastSuccess().ifPresent(at -> entry.put("last_success_at", at.toString()));
        health.lastBackup().ifPresent(run -> entry.put("last_backup", Map.of("id", run.runId(), "state", run.state(),
                "started_at", run.startedAt().toString())));
        entry.put("verify_problems", health.verifyProblems());
        health.targetProblem().ifPresent(problem -> entry.put("error", "the backup target: " + problem));
        return entry;
    }

    /**
     * Degraded while the last check of some tenant's directories found them owned, moded or
     * ACL'd otherwise than specified ({@link TenantIsolation}); which ones and how, for the admin.
     */
    private Map<String, Object> isolation(boolean admin) {
        Map<TenantId, TenantIsolation.Status> mismatches = isolation.mismatches();
        Map<String, Object> entry = new LinkedHashMap<>();
        entry.put("status", mismatches.isEmpty() ? "healthy" : "degraded");
        entry.put("protection", isolation.protection().wireName());
        entry.put("workspace_owner", isolation.settings().workspaceOwner().name().toLowerCase(java.util.Locale.ROOT));
        entry.put("tenants_not_as_specified", mismatches.size());
        if (admin && !mismatches.isEmpty()) {
            Map<String, Object> problems = new LinkedHashMap<>();
            mismatches.forEach((tenant, status) -> problems.put(tenant.value(), status.problems()));
            entry.put("mismatches", problems);
        }
        return entry;
    }

    /** One tenant's directory check as the API shows it. */
    public static Map<String, Object> isolationJson(TenantIsolation.Status status) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("tenant_id", status.tenant().value());
        json.put("status", status.asSpecified() ? "as_specified" : "mismatch");
        json.put("protection", status.protection().wireName());
        json.put("service_user", status.serviceUser());
        json.put("group", status.group().orElse(null));
        json.put("problems", status.problems());
        json.put("notes", status.notes());
        return json;
    }

    /** The scrub's findings as the API shows them. */
    public static List<Map<String, Object>> findingsJson(List<ScrubRows.Finding> findings) {
        return findings.stream().<Map<String, Object>>map(finding -> Map.of("tenant_id", finding.owner(), "key", finding.blobKey(),
                "problem", finding.problem(), "found_at", finding.foundAt().toString())).toList();
    }

    private static Map<String, Object> remote(BlobStore store) {
        Map<String, Object> entry = new LinkedHashMap<>();
        BlobStoreProbe.Result probe = BlobStoreProbe.probe(store, PROBE_PREFIX, PROBE_DEADLINE);
        entry.put("status", probe.ok() ? "healthy" : "unhealthy");
        entry.put("probe_ms", probe.took().toMillis());
        probe.problem().ifPresent(problem -> entry.put("error", problem));
        if (store instanceof CircuitBreakingBlobStore breaker) {
            CircuitBreakingBlobStore.State state = breaker.state();
            entry.put("circuit", state.open() ? "open" : "closed");
            state.openUntil().ifPresent(until -> entry.put("failing_fast_until", until.toString()));
        }
        return entry;
    }

    @SuppressWarnings("unchecked")
    private static String overall(Map<String, Object> backends) {
        List<Object> statuses = backends.values().stream().map(entry -> ((Map<String, Object>) entry).get("status")).toList();
        if (statuses.contains("unhealthy")) {
            return "unhealthy";
        }
        return statuses.contains("degraded") ? "degraded" : "healthy";
    }

    private static double round(double percent) {
        return Math.round(percent * 10) / 10.0;
    }
}
