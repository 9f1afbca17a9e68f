package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobNotFoundException;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.core.BackupManifest.ArtifactLine;
import dev.builderd.storage.core.BackupManifest.BuildLine;
import dev.builderd.storage.core.BackupManifest.CachePolicyLine;
import dev.builderd.storage.core.BackupManifest.Line;
import dev.builderd.storage.core.BackupManifest.ObjectLine;
import dev.builderd.storage.core.BackupManifest.Summary;
import dev.builderd.storage.core.BackupManifest.TenantLine;
import dev.builderd.storage.core.BackupTarget.SnapshotRef;
import dev.builderd.storage.core.error.ConflictException;
import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.metadata.ArtifactRows;
import dev.builderd.storage.core.metadata.BackupRows;
import dev.builderd.storage.core.metadata.BuildRows;
import dev.builderd.storage.core.metadata.CacheRows;
import dev.builderd.storage.core.metadata.JanitorRows;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.TenantRows;
import dev.builderd.storage.core.model.ArtifactInfo;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildInfo;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.BuildStatus;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.TenantInfo;
import dev.builderd.storage.core.model.Tier;
import dev.builderd.storage.core.quota.Quotas;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.DayOfWeek;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.YearMonth;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Backups of tenants into a {@link BackupTarget}, and restores from them, while the daemon serves.
 *
 * <p>A <em>snapshot</em> is one tenant at one point in time: the metadata is read in one read
 * transaction (its builds, artifact rows, settings), then the objects those rows name (and the
 * logs and cache entries stored for it) are copied as the backends hold them: ciphertext for an
 * encrypted tenant, whose keyset is archived beside them, wrapped by the master key. Only finished
 * builds are taken, and only artifacts that have their row: an upload in flight is never in a
 * snapshot. Copies are incremental: an object whose size and time match the tenant's previous
 * snapshot is not read again, and content already in the target (by SHA-256) is not copied again,
 * so a backup of an unchanged tenant writes only a manifest.
 *
 * <p>Every operation is a job with progress ({@link BackupRows}); one runs at a time in the whole
 * cluster, which is what keeps a prune from deleting content a running backup reuses. A restore
 * fences the tenant it writes ({@link Quotas#fence}: its writes get 503) for its duration only;
 * every other tenant is served as usual.
 */
public final class BackupService implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(BackupService.class);
    private static final Principal ADMIN = new Principal.Admin();
    private static final DateTimeFormatter SNAPSHOT_ID = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmssSSS'Z'").withZone(ZoneOffset.UTC);
    /** Every blob the service writes is a 0600 file (in 0700 directories); a restore writes the same. */
    private static final String MODE = "0600";
    /** A running job that has not recorded progress for this long died with its node. */
    private static final Duration STALE = Duration.ofMinutes(5);
    private static final Duration PROGRESS_EVERY = Duration.ofSeconds(1);

    /**
     * Which snapshots a prune keeps, per tenant: the newest {@code keepLast} (of tenants that still
     * exist), and the newest of each of the last {@code keepDaily} days, {@code keepWeekly} ISO
     * weeks and {@code keepMonthly} months, counted back from now (UTC). A purged tenant's
     * snapshots thus age out; until then, a mistaken purge of a plaintext tenant can be undone.
     */
    public record Retention(int keepLast, int keepDaily, int keepWeekly, int keepMonthly) {

        public static final Retention DEFAULTS = new Retention(1, 7, 4, 12);

        public Retention {
            if (keepLast < 1 || keepDaily < 0 || keepWeekly < 0 || keepMonthly < 0) {
                throw new InvalidInputException("backup retention must keep at least the last snapshot (keep_last >= 1) and"
                        + " zero or more daily, weekly and monthly ones; was last=" + keepLast + " daily=" + keepDaily
                        + " weekly=" + keepWeekly + " monthly=" + keepMonthly);
            }
        }

        /** The snapshots to keep among {@code snapshots} of one tenant. */
        Set<String> keep(List<Summary> snapshots, Instant now, boolean tenantExists) {
            List<Summary> newestFirst = new ArrayList<>(snapshots);
            newestFirst.sort(Comparator.comparingLong(Summary::takenAtMs).thenComparing(Summary::snapshotId).reversed());
            Set<String> keep = new LinkedHashSet<>();
            if (tenantExists) {
                newestFirst.stream().limit(keepLast).forEach(s -> keep.add(s.snapshotId()));
            }
            LocalDate today = LocalDate.ofInstant(now, ZoneOffset.UTC);
            Set<Object> days = new HashSet<>();
            Set<Object> weeks = new HashSet<>();
            Set<Object> months = new HashSet<>();
            for (Summary snapshot : newestFirst) {
                LocalDate day = LocalDate.ofInstant(Instant.ofEpochMilli(snapshot.takenAtMs()), ZoneOffset.UTC);
                LocalDate monday = day.with(DayOfWeek.MONDAY);
                YearMonth month = YearMonth.from(day);
                if (ChronoUnit.DAYS.between(day, today) < keepDaily && days.add(day)) {
                    keep.add(snapshot.snapshotId());
                }
                if (ChronoUnit.WEEKS.between(monday, today.with(DayOfWeek.MONDAY)) < keepWeekly && weeks.add(monday)) {
                    keep.add(snapshot.snapshotId());
                }
                if (ChronoUnit.MONTHS.between(month, YearMonth.from(today)) < keepMonthly && months.add(month)) {
                    keep.add(snapshot.snapshotId());
                }
            }
            return keep;
        }
    }

    /** A snapshot as listed. */
    public record Snapshot(TenantId tenant, String id, Instant takenAt, Tier tier, boolean encryption, int builds, long objects,
            long bytes, long copiedObjects, long copiedBytes, List<String> skipped) {

        static Snapshot of(Summary summary) {
            return new Snapshot(TenantId.of(summary.tenant()), summary.snapshotId(), Instant.ofEpochMilli(summary.takenAtMs()),
                    Tier.parse(summary.tier()), summary.encryption(), summary.builds(), summary.objects(), summary.bytes(),
                    summary.copiedObjects(), summary.copiedBytes(), summary.skipped());
        }
    }

    /**
     * What to restore: a whole tenant, one build, or one artifact of a build, from the snapshot
     * {@code snapshotId}, or else the newest taken at or before {@code at}, or else the newest;
     * into the tenant itself or into {@code into} (created like the snapshot's tenant if it does not
     * exist), to inspect a past state beside the present one.
     */
    public record RestoreRequest(TenantId tenant, Optional<String> snapshotId, Optional<Instant> at, Optional<BuildId> build,
            Optional<FileName> artifact, Optional<TenantId> into) {

        public RestoreRequest {
            if (artifact.isPresent() && build.isEmpty()) {
                throw new InvalidInputException("restoring an artifact needs its build");
            }
            if (snapshotId.isPresent() && at.isPresent()) {
                throw new InvalidInputException("give a snapshot or a time, not both");
            }
        }

        TenantId target() {
            return into.orElse(tenant);
        }

        String describe() {
            String what = artifact.map(a -> "artifact " + a + " of build " + build.orElseThrow())
                    .or(() -> build.map(b -> "build " + b)).orElse("tenant " + tenant);
            return what + (build.isPresent() ? " of tenant " + tenant : "")
                    + snapshotId.map(id -> " from snapshot " + id).or(() -> at.map(t -> " as of " + t)).orElse(" from its newest snapshot")
                    + into.filter(other -> !other.equals(tenant)).map(other -> " into tenant " + other).orElse("");
        }
    }

    private final MetadataStore metadata;
    private final BackupTarget target;
    private final Stores raw;
    private final Stores live;
    private final Layout layout;
    private final TenantService tenants;
    private final BuildService builds;
    private final ArtifactService artifacts;
    private final TenantEncryption encryption;
    private final Quotas quotas;
    private final QuotaReconciliation reconciliation;
    private final RetentionPolicies retentionPolicies;
    private final String node;
    private final Retention retention;
    private final Clock clock;
    private final ExecutorService jobs = Executors.newSingleThreadExecutor(Thread.ofPlatform().name("builderd-backup").daemon().factory());
    /** Copies objects of a snapshot in parallel: each new object waits for the target's fsyncs, which overlap. */
    private final ExecutorService copiers = Executors.newFixedThreadPool(8, Thread.ofPlatform().name("builderd-backup-copy-", 0).daemon().factory());
    private final Set<String> runningHere = Collections.synchronizedSet(new HashSet<>());
    private final Gauge lastSuccess;
    private final Gauge lastDuration;
    private final Counter copiedBytes;
    private final Counter copiedObjects;
    private final Counter runs;
    private final Gauge verifyProblems;

    /**
     * @param raw the backends as they hold the data (no encryption, no tiers): what is copied
     * @param live the stores the services write through (encrypting): what a restore writes to
     */
    BackupService(MetadataStore metadata, BackupTarget target, Stores raw, Stores live, Layout layout, TenantService tenants,
            BuildService builds, ArtifactService artifacts, TenantEncryption encryption, Quotas quotas,
            QuotaReconciliation reconciliation, RetentionPolicies retentionPolicies, String node, Retention retention, Clock clock,
            PrometheusRegistry registry) {
        this.retention = retention;
        this.metadata = metadata;
        this.target = target;
        this.raw = raw;
        this.live = live;
        this.layout = layout;
        this.tenants = tenants;
        this.builds = builds;
        this.artifacts = artifacts;
        this.encryption = encryption;
        this.quotas = quotas;
        this.reconciliation = reconciliation;
        this.retentionPolicies = retentionPolicies;
        this.node = node;
        this.clock = clock;
        this.lastSuccess = Gauge.builder().name("builderd_backup_last_success_timestamp_seconds")
                .help("When the last backup job of each kind (backup, verify, restore, prune) finished well, in Unix seconds")
                .labelNames("kind").register(registry);
        this.lastDuration = Gauge.builder().name("builderd_backup_last_duration_seconds")
                .help("How long the last backup job of each kind took").labelNames("kind").register(registry);
        this.copiedBytes = Counter.builder().name("builderd_backup_copied_bytes")
                .help("Bytes copied into the backup target (content it did not hold yet)").register(registry);
        this.copiedObjects = Counter.builder().name("builderd_backup_copied_objects")
                .help("Objects copied into the backup target (content it did not hold yet)").register(registry);
        this.runs = Counter.builder().name("builderd_backup_runs")
                .help("Backup jobs that ended, by kind and outcome (finished or failed)").labelNames("kind", "outcome").register(registry);
        this.verifyProblems = Gauge.builder().name("builderd_backup_verify_problems")
                .help("Damaged or missing objects the last backup verify found").register(registry);
        for (String kind : List.of("backup", "verify", "restore", "prune")) {
            metadata.read(h -> BackupRows.lastFinished(h, kind)).ifPresent(run -> {
                lastSuccess.labelValues(kind).set(run.finishedAt().orElseThrow().toEpochMilli() / 1000.0);
                lastDuration.labelValues(kind).set(Duration.between(run.startedAt(), run.finishedAt().orElseThrow()).toMillis() / 1000.0);
            });
        }
        encryption.archiveKeysetsIn(target);
    }

    /** What a prune keeps unless it is told otherwise. */
    public Retention retention() {
        return retention;
    }

    /**
     * What {@code /health/storage} shows of backups.
     *
     * @param targetProblem why the target failed its probe, if it did
     * @param lastBackup the latest backup job, running or ended
     * @param lastSuccess when a backup job last finished well
     * @param verifyProblems what the last verify found damaged or missing
     */
    public record Health(String target, Optional<String> targetProblem, Optional<BackupRows.Run> lastBackup,
            Optional<Instant> lastSuccess, long verifyProblems) {
    }

    /** Probes the target (within {@code deadline}) and reads the latest jobs. */
    public Health health(Duration deadline) {
        Optional<BackupRows.Run> last = metadata.read(h -> BackupRows.latest(h, 50)).stream()
                .filter(run -> run.kind().equals("backup")).findFirst();
        Optional<Instant> success = metadata.read(h -> BackupRows.lastFinished(h, "backup")).flatMap(BackupRows.Run::finishedAt);
        return new Health(target.describe(), target.probe(deadline), last, success, (long) verifyProblems.get());
    }

    /** Where the backups go, in words. */
    public String describeTarget() {
        return target.describe();
    }

    // ---------------------------------------------------------------- starting jobs

    /** Starts a backup of one tenant, or of every tenant; returns the job. */
    public BackupRows.Run startBackup(Principal caller, Optional<TenantId> tenant) {
        caller.requireAdmin("backing up");
        tenant.ifPresent(this::requireTenant);
        return start("backup", tenant.map(t -> "tenant " + t).orElse("all tenants"), progress -> backup(tenant, progress));
    }

    /** Starts re-reading snapshots (one, a tenant's, or all) and checking every object's SHA-256. */
    public BackupRows.Run startVerify(Principal caller, Optional<TenantId> tenant, Optional<String> snapshotId) {
        caller.requireAdmin("verifying backups");
        if (snapshotId.isPresent() && tenant.isEmpty()) {
            throw new InvalidInputException("a snapshot is named with its tenant");
        }
        String scope = snapshotId.map(id -> "snapshot " + tenant.orElseThrow() + "/" + id)
                .or(() -> tenant.map(t -> "tenant " + t)).orElse("all snapshots");
        return start("verify", scope, progress -> verify(tenant, snapshotId, progress));
    }

    /** Starts a restore. */
    public BackupRows.Run startRestore(Principal caller, RestoreRequest request) {
        caller.requireAdmin("restoring from backup");
        return start("restore", request.describe(), progress -> restore(request, progress));
    }

    /** Starts a prune: snapshots beyond {@code retention} go, then the content no snapshot uses. */
    public BackupRows.Run startPrune(Principal caller, Retention retention) {
        caller.requireAdmin("pruning backups");
        return start("prune", "keep last " + retention.keepLast() + ", daily " + retention.keepDaily() + ", weekly "
                + retention.keepWeekly() + ", monthly " + retention.keepMonthly(), progress -> prune(retention, progress));
    }

    /** A job, running or ended. */
    public BackupRows.Run run(Principal caller, String runId) {
        caller.requireAdmin("reading backup jobs");
        return metadata.read(h -> BackupRows.find(h, runId))
                .orElseThrow(() -> new NotFoundException("there is no backup job '" + printable(runId) + "'"));
    }

    /** The latest jobs, newest first. */
    public List<BackupRows.Run> runs(Principal caller, int limit) {
        caller.requireAdmin("reading backup jobs");
        return metadata.read(h -> BackupRows.latest(h, limit));
    }

    /** The finished snapshots of one tenant, or of all, oldest first. */
    public List<Snapshot> snapshots(Principal caller, Optional<TenantId> tenant) {
        caller.requireAdmin("listing backups");
        try {
            return target.summaries(tenant).stream().map(Snapshot::of).toList();
        } catch (IOException e) {
            throw IoErrors.translate(e, "listing the snapshots in the " + target.describe());
        }
    }

    /** Work done by a job: returns its result (shown as JSON), or throws to fail it. */
    @FunctionalInterface
    private interface Work {
        Map<String, Object> run(Progress progress) throws IOException;
    }

    private BackupRows.Run start(String kind, String scope, Work work) {
        String runId = kind + "-" + SNAPSHOT_ID.format(clock.instant()) + "-" + UUID.randomUUID().toString().substring(0, 8);
        Instant now = clock.instant();
        metadata.inTransaction(h -> {
            Optional<BackupRows.Run> running = BackupRows.running(h);
            if (running.isPresent()) {
                BackupRows.Run other = running.get();
                boolean died = other.node().equals(node) ? !runningHere.contains(other.runId())
                        : other.heartbeatAt().isBefore(now.minus(STALE));
                if (!died) {
                    throw new ConflictException("the backup " + other.kind() + " job " + other.runId() + " (" + other.scope()
                            + ") has been running since " + other.startedAt() + "; backup jobs run one at a time: try again when it ends");
                }
                BackupRows.finish(h, other.runId(), BackupRows.FAILED,
                        json(Map.of("error", "its node (" + other.node() + ") stopped before it ended")), now);
            }
            BackupRows.start(h, runId, kind, scope, node, now);
            return null;
        });
        runningHere.add(runId);
        jobs.execute(() -> execute(runId, kind, scope, work));
        return metadata.read(h -> BackupRows.find(h, runId)).orElseThrow();
    }

    private void execute(String runId, String kind, String scope, Work work) {
        Progress progress = new Progress(runId);
        Instant started = clock.instant();
        String state = BackupRows.FAILED;
        String result;
        try {
            Map<String, Object> outcome = work.run(progress);
            state = Boolean.FALSE.equals(outcome.get("ok")) ? BackupRows.FAILED : BackupRows.FINISHED;
            result = json(outcome);
        } catch (IOException | RuntimeException e) {
            LOG.error("backup {} job {} ({}) failed: {}", kind, runId, scope, e.getMessage(), e);
            result = json(Map.of("error", String.valueOf(e.getMessage())));
        }
        try {
            progress.flush(true);
            String ended = state;
            String outcome = result;
            metadata.inTransaction(h -> {
                BackupRows.finish(h, runId, ended, outcome, clock.instant());
                return null;
            });
        } finally {
            runningHere.remove(runId);
        }
        Duration took = Duration.between(started, clock.instant());
        runs.labelValues(kind, state).inc();
        if (state.equals(BackupRows.FINISHED)) {
            lastSuccess.labelValues(kind).set(clock.millis() / 1000.0);
            lastDuration.labelValues(kind).set(took.toMillis() / 1000.0);
        }
        LOG.info("backup {} job {} ({}) {} in {} ms", kind, runId, scope, state, took.toMillis());
    }

    private static String json(Map<String, Object> value) {
        try {
            return BackupManifest.JSON.writeValueAsString(value);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException("a job result is plain JSON", e);
        }
    }

    /** A job's counters, written to its row at most once a second. */
    private final class Progress {
        private final String runId;
        private long total;
        private long done;
        private long bytes;
        private long copied;
        private Instant written = Instant.EPOCH;

        Progress(String runId) {
            this.runId = runId;
        }

        synchronized void planned(long objects) {
            total += objects;
            flush(false);
        }

        synchronized void read(long n) {
            bytes += n;
            flush(false);
        }

        synchronized void object(long size, boolean copiedNow) {
            done++;
            if (copiedNow) {
                copied += size;
                copiedBytes.inc(size);
                copiedObjects.inc();
            }
            flush(false);
        }

        /** An object written back by a restore. */
        synchronized void restored(long size) {
            bytes += size;
            object(size, false);
        }

        synchronized void flush(boolean now) {
            Instant at = clock.instant();
            if (now || !at.isBefore(written.plus(PROGRESS_EVERY))) {
                written = at;
                long objectsTotal = Math.max(total, done);
                metadata.inUnsyncedTransaction(h -> {
                    BackupRows.progress(h, runId, objectsTotal, done, bytes, copied, at);
                    return null;
                });
            }
        }
    }

    // ---------------------------------------------------------------- backup

    private Map<String, Object> backup(Optional<TenantId> only, Progress progress) throws IOException {
        List<TenantId> chosen = only.map(List::of).orElseGet(() -> metadata.read(TenantRows::all).stream().map(TenantInfo::id).toList());
        List<Map<String, Object>> snapshots = new ArrayList<>();
        Map<String, String> failed = new TreeMap<>();
        for (TenantId tenant : chosen) {
            try {
                Snapshot snapshot = backupTenant(tenant, progress);
                snapshots.add(Map.of("tenant", tenant.value(), "snapshot", snapshot.id(), "objects", snapshot.objects(),
                        "bytes", snapshot.bytes(), "copied_objects", snapshot.copiedObjects(), "copied_bytes", snapshot.copiedBytes(),
                        "skipped", snapshot.skipped()));
            } catch (IOException | RuntimeException e) {
                LOG.error("backing up tenant {} failed: {}", tenant, e.getMessage(), e);
                failed.put(tenant.value(), String.valueOf(e.getMessage()));
            }
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("ok", failed.isEmpty());
        result.put("snapshots", snapshots);
        result.put("failed", failed);
        return result;
    }

    /** What the metadata holds of a tenant at one point in time. */
    /**
     * @param logsChanged the builds whose logs may have changed since the previous snapshot (the
     *     janitor deleted some); empty when any may have (a restore ran since)
     */
    private record TenantView(TenantInfo info, List<BuildInfo> builds, Map<BuildId, List<ArtifactInfo>> artifacts,
            Map<String, CacheRows.PolicyRow> cachePolicies, Optional<Set<BuildId>> logsChanged) {

        List<ArtifactInfo> artifactsOf(BuildInfo build) {
            return artifacts.getOrDefault(build.ref().build(), List.of());
        }

        /** Whether the build's logs are those of the previous snapshot, if the build is unchanged. */
        boolean logsUnchanged(BuildInfo build) {
            return logsChanged.isPresent() && !logsChanged.get().contains(build.ref().build());
        }
    }

    /** Takes one snapshot of {@code tenant}. */
    private Snapshot backupTenant(TenantId tenant, Progress progress) throws IOException {
        Previous previous = previous(tenant);
        Instant takenAt = clock.instant();
        TenantView view = metadata.readConsistent(h -> {
            TenantInfo info = TenantRows.find(h, tenant).orElseThrow(() -> new NotFoundException("tenant '" + tenant + "' does not exist"));
            List<BuildInfo> finished = BuildRows.ofTenant(h, tenant).stream().filter(build -> !build.isActive()).toList();
            Map<BuildId, List<ArtifactInfo>> rows = ArtifactRows.ofTenant(h, tenant);
            Set<BuildId> logsChanged = BackupRows.restoredSince(h, previous.takenAt()) ? null
                    : JanitorRows.buildsWithLogsDeletedSince(h, tenant, previous.takenAt());
            return new TenantView(info, finished, rows, CacheRows.policies(h, tenant), Optional.ofNullable(logsChanged));
        });
        progress.planned(view.builds().stream().mapToLong(build -> view.artifactsOf(build).size()).sum());
        if (view.info().encryption()) {
            encryption.archiveKeys(tenant, target);
        }
        SnapshotRef ref = new SnapshotRef(tenant, SNAPSHOT_ID.format(takenAt));
        Path lines = target.newSpoolFile();
        try {
            SnapshotCopy copy;
            try (BackupManifest.Writer writer = new BackupManifest.Writer(Files.newOutputStream(lines))) {
                copy = new SnapshotCopy(previous, !view.info().encryption(), writer, progress);
                copy.append(tenantLine(view));
                for (BuildInfo build : view.builds()) {
                    copyBuild(build, view.artifactsOf(build), view.logsUnchanged(build), copy);
                }
                Iterator<BlobInfo> entries = raw.caches().list(layout.tenantKeyPrefix(tenant) + "cache/", null);
                while (entries.hasNext()) {
                    copy.appendCopy(raw.caches(), Category.CACHES, entries.next(), Optional.empty());
                }
                copy.drain(true);
            } catch (UncheckedIOException e) {
                throw e.getCause();
            }
            Summary summary = copy.summary(tenant, ref, takenAt, view);
            target.publish(ref, lines, summary);
            LOG.info("snapshot {} of tenant {}: {} objects, {} bytes ({} objects, {} bytes copied){}", ref.id(), tenant, summary.objects(),
                    summary.bytes(), summary.copiedObjects(), summary.copiedBytes(),
                    summary.skipped().isEmpty() ? "" : "; left out: " + summary.skipped());
            return Snapshot.of(summary);
        } finally {
            Files.deleteIfExists(lines);
        }
    }

    private TenantLine tenantLine(TenantView view) {
        TenantId tenant = view.info().id();
        var overrides = retentionPolicies.read(tenant);
        String retention = overrides.values().isEmpty() ? null : new String(overrides.toJsonBytes(), java.nio.charset.StandardCharsets.UTF_8);
        Map<String, CachePolicyLine> policies = new TreeMap<>();
        view.cachePolicies().forEach((type, row) -> policies.put(type, new CachePolicyLine(row.maxSizeBytes().orElse(null),
                row.order().map(Enum::name).orElse(null), row.minRetentionSeconds().orElse(null), row.maxRetentionSeconds().orElse(null))));
        return new TenantLine(view.info().tier().wireName(), view.info().encryption(), retention, policies);
    }

    /**
     * Copies a build's artifacts (those with rows) and logs; its line follows, without the
     * artifacts that were left out. A finished build whose line and artifact rows are those of the
     * previous snapshot keeps that snapshot's artifact objects without the store being listed or
     * read: a finished build's artifacts never change (uploads and deletions need an active build;
     * the repairs that change a finished build's rows change the rows, so the build is copied
     * again). Its logs too, unless the janitor deleted some since (or a restore ran since): no
     * other change reaches a finished build's logs.
     */
    private void copyBuild(BuildInfo build, List<ArtifactInfo> rows, boolean logsUnchanged, SnapshotCopy copy) throws IOException {
        BuildRef ref = build.ref();
        BuildLine asRecorded = buildLine(build, rows.stream().map(artifact -> new ArtifactLine(artifact.name().value(),
                artifact.size(), artifact.sha256(), artifact.created().toEpochMilli())).toList());
        Optional<List<ObjectLine>> unchanged = copy.unchangedArtifacts(asRecorded, ref);
        if (unchanged.isPresent()) {
            for (ObjectLine artifact : unchanged.get()) {
                copy.appendReused(artifact);
            }
            if (logsUnchanged) {
                for (ObjectLine log : copy.previousUnder(layout.logKeyPrefix(ref))) {
                    copy.appendReused(log);
                }
            } else {
                copyLogs(ref, copy);
            }
            copy.append(asRecorded);
            return;
        }
        Map<String, BlobInfo> stored = new HashMap<>();
        raw.artifacts().list(layout.buildKeyPrefix(ref) + "rootfs/", null).forEachRemaining(info -> stored.put(info.key().value(), info));
        List<CompletableFuture<Optional<ArtifactLine>>> artifactLines = new ArrayList<>();
        for (ArtifactLine artifact : asRecorded.artifacts()) {
            BlobKey key = layout.artifactKey(ref, FileName.of(artifact.name()));
            BlobInfo blob = stored.get(key.value());
            if (blob == null) {
                copy.leftOut(key, "deleted while the backup ran");
                continue;
            }
            artifactLines.add(copy.appendCopy(raw.artifacts(), Category.ARTIFACTS, blob, Optional.of(artifact.sha256()))
                    .thenApply(object -> object.map(o -> artifact)));
        }
        copyLogs(ref, copy);
        copy.append(CompletableFuture.allOf(artifactLines.toArray(CompletableFuture[]::new)).thenApply(copied -> Optional.of(
                buildLine(build, artifactLines.stream().map(CompletableFuture::join).flatMap(Optional::stream).toList()))));
    }

    private void copyLogs(BuildRef ref, SnapshotCopy copy) throws IOException {
        Iterator<BlobInfo> logs = raw.logs().list(layout.logKeyPrefix(ref), null);
        while (logs.hasNext()) {
            copy.appendCopy(raw.logs(), Category.LOGS, logs.next(), Optional.empty());
        }
    }

    private static BuildLine buildLine(BuildInfo build, List<ArtifactLine> artifacts) {
        return new BuildLine(build.ref().build().value(), build.status().name(), build.failureReason().orElse(null),
                build.created().toEpochMilli(), build.completed().map(Instant::toEpochMilli).orElse(null), artifacts);
    }

    /** The categories of stored objects, as manifests name them. */
    private enum Category {
        ARTIFACTS, LOGS, CACHES;

        String wireName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    /**
     * One snapshot being taken: objects are copied ahead by the copier threads (at most
     * {@value #WINDOW} at a time, so that many small objects share the target's fsync waits), and
     * their lines are written in the order they were appended.
     */
    private final class SnapshotCopy {
        private static final int WINDOW = 64;

        private final Previous previous;
        private final boolean storedAsRecorded;
        private final BackupManifest.Writer writer;
        private final Progress progress;
        private final java.util.ArrayDeque<CompletableFuture<? extends Optional<? extends Line>>> pending = new java.util.ArrayDeque<>();
        private long objects;
        private long bytes;
        private long copiedObjects;
        private long copiedBytes;
        private final List<String> skipped = new ArrayList<>();

        /** @param storedAsRecorded whether the backends hold artifacts as their rows' SHA-256 says (a plaintext tenant) */
        SnapshotCopy(Previous previous, boolean storedAsRecorded, BackupManifest.Writer writer, Progress progress) {
            this.previous = previous;
            this.storedAsRecorded = storedAsRecorded;
            this.writer = writer;
            this.progress = progress;
        }

        void append(Line line) throws IOException {
            append(CompletableFuture.completedFuture(Optional.of(line)));
        }

        /**
         * The previous snapshot's artifact objects of a finished build, when that snapshot holds
         * the build as {@code line} says (same status, times and artifact rows) with every artifact.
         */
        Optional<List<ObjectLine>> unchangedArtifacts(BuildLine line, BuildRef ref) {
            if (line.completedAtMs() == null || !line.equals(previous.builds().get(line.buildId()))) {
                return Optional.empty();
            }
            List<ObjectLine> objects = new ArrayList<>();
            for (ArtifactLine artifact : line.artifacts()) {
                ObjectLine object = previous.objects().get(layout.artifactKey(ref, FileName.of(artifact.name())).value());
                if (object == null) {
                    return Optional.empty();
                }
                objects.add(object);
            }
            return Optional.of(objects);
        }

        /** The previous snapshot's objects under a key prefix. */
        java.util.Collection<ObjectLine> previousUnder(String prefix) {
            return under(previous.objects(), prefix);
        }

        /** Appends an object of the previous snapshot as it was there. */
        void appendReused(ObjectLine object) throws IOException {
            counted(object.size(), false);
            progress.object(object.size(), false);
            append(object);
        }

        void append(CompletableFuture<? extends Optional<? extends Line>> line) throws IOException {
            pending.add(line);
            drain(false);
        }

        /** Starts copying an object; its line is written in turn. */
        CompletableFuture<Optional<ObjectLine>> appendCopy(BlobStore store, Category category, BlobInfo blob,
                Optional<String> recordedSha256) throws IOException {
            CompletableFuture<Optional<ObjectLine>> line = CompletableFuture.supplyAsync(() -> {
                try {
                    return copy(store, category, blob, storedAsRecorded ? recordedSha256 : Optional.empty());
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }, copiers);
            append(line);
            return line;
        }

        /** Writes the lines whose copies are done, in order; with {@code all}, waits for every one. */
        void drain(boolean all) throws IOException {
            while (!pending.isEmpty() && (all || pending.size() > WINDOW || pending.peek().isDone())) {
                Optional<? extends Line> line;
                try {
                    line = pending.peek().join();
                } catch (java.util.concurrent.CompletionException e) {
                    pending.forEach(other -> other.cancel(false));
                    if (e.getCause() instanceof UncheckedIOException io) {
                        throw io.getCause();
                    }
                    throw e.getCause() instanceof RuntimeException runtime ? runtime : e;
                }
                pending.poll();
                if (line.isPresent()) {
                    writer.write(line.get());
                }
            }
        }

        synchronized void leftOut(BlobKey key, String why) {
            skipped.add(key.value() + ": " + why);
        }

        private synchronized void counted(long size, boolean copiedNow) {
            objects++;
            bytes += size;
            if (copiedNow) {
                copiedObjects++;
                copiedBytes += size;
            }
        }

        synchronized Summary summary(TenantId tenant, SnapshotRef ref, Instant takenAt, TenantView view) {
            return new Summary(BackupManifest.FORMAT, tenant.value(), ref.id(), takenAt.toEpochMilli(), view.info().tier().wireName(),
                    view.info().encryption(), view.builds().size(), objects, bytes, copiedObjects, copiedBytes, List.copyOf(skipped));
        }

        /**
         * The object's line: the previous snapshot's when size and time match (nothing is read);
         * with a known SHA-256 whose content the target holds, a line without reading either;
         * else the object is copied into the target. Empty, and recorded, if it is left out.
         */
        private Optional<ObjectLine> copy(BlobStore store, Category category, BlobInfo blob, Optional<String> knownSha256)
                throws IOException {
            long modified = blob.lastModified().toEpochMilli();
            ObjectLine before = previous.objects().get(blob.key().value());
            if (before != null && before.size() == blob.size() && before.modifiedAtMs() == modified) {
                return Optional.of(line(category, blob, before.size(), before.sha256(), false));
            }
            if (knownSha256.isPresent() && target.holds(knownSha256.get())) {
                return Optional.of(line(category, blob, blob.size(), knownSha256.get(), false));
            }
            BackupTarget.Stored stored;
            try (InputStream in = store.open(blob.key(), ByteRange.ALL)) {
                stored = target.store(in, blob.size(), knownSha256, progress::read);
            } catch (BlobNotFoundException deletedMeanwhile) {
                leftOut(blob.key(), "deleted while the backup ran");
                return Optional.empty();
            } catch (IoErrors.ChecksumMismatchException damaged) {
                leftOut(blob.key(), "its stored bytes do not match its recorded SHA-256 (damaged; the integrity scrub reports it)");
                return Optional.empty();
            }
            return Optional.of(line(category, blob, stored.size(), stored.sha256(), stored.copied()));
        }

        private ObjectLine line(Category category, BlobInfo blob, long size, String sha256, boolean copiedNow) {
            counted(size, copiedNow);
            progress.object(size, copiedNow);
            return new ObjectLine(category.wireName(), blob.key().value(), size, sha256, MODE, blob.lastModified().toEpochMilli());
        }
    }

    /** The tenant's newest snapshot: what an incremental backup need not read again. */
    private Previous previous(TenantId tenant) throws IOException {
        Optional<Summary> newest = target.newest(tenant);
        if (newest.isEmpty()) {
            return new Previous(Instant.EPOCH, new TreeMap<>(), Map.of());
        }
        Previous previous = new Previous(Instant.ofEpochMilli(newest.get().takenAtMs()), new TreeMap<>(), new HashMap<>());
        try (BackupManifest.Reader lines = target.lines(new SnapshotRef(tenant, newest.get().snapshotId()))) {
            lines.forEachRemaining(line -> {
                switch (line) {
                    case ObjectLine object -> previous.objects().put(object.key(), object);
                    case BuildLine build -> previous.builds().put(build.buildId(), build);
                    case TenantLine settings -> {
                    }
                }
            });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        return previous;
    }

    /** The tenant's newest snapshot: when it was taken, its objects by key and its builds by ID (empty for a first backup). */
    private record Previous(Instant takenAt, NavigableMap<String, ObjectLine> objects, Map<String, BuildLine> builds) {
    }

    // ---------------------------------------------------------------- restore

    /** One snapshot's lines, as much of them as a restore needs. */
    private record Contents(TenantLine tenant, List<BuildLine> builds, NavigableMap<String, ObjectLine> objects) {
    }

    private Map<String, Object> restore(RestoreRequest request, Progress progress) throws IOException {
        Summary summary = chooseSnapshot(request);
        SnapshotRef ref = new SnapshotRef(request.tenant(), summary.snapshotId());
        Contents contents = read(ref, request);
        TenantId into = request.target();
        if (request.build().isPresent() && contents.builds().isEmpty()) {
            throw new NotFoundException("snapshot " + ref + " has no build '" + request.build().get() + "'");
        }
        if (request.artifact().isPresent() && contents.builds().getFirst().artifacts().isEmpty()) {
            throw new NotFoundException("build " + request.build().get() + " in snapshot " + ref + " has no artifact '"
                    + request.artifact().get() + "'");
        }
        if (metadata.read(h -> TenantRows.find(h, into)).isEmpty()) {
            tenants.put(ADMIN, into, Tier.parse(contents.tenant().tier()), contents.tenant().encryption());
        }
        if (!quotas.fence(into, "it is being restored from backup snapshot " + ref)) {
            throw new ConflictException("tenant '" + into + "' is being restored already");
        }
        try {
            requireNoActiveBuilds(request, into);
            progress.planned(contents.objects().size());
            BlobStore source = new SnapshotStore(contents.objects(), target);
            if (contents.tenant().encryption()) {
                source = encryption.archivedView(source, request.tenant(), target);
            }
            Set<BuildId> restored = new HashSet<>();
            for (BuildLine build : contents.builds()) {
                restoreBuild(source, request, into, build, contents.objects(), progress);
                restored.add(BuildId.of(build.buildId()));
            }
            int removed = 0;
            int cacheEntries = 0;
            if (request.build().isEmpty()) {
                for (BuildInfo newer : metadata.read(h -> BuildRows.ofTenant(h, into))) {
                    if (!restored.contains(newer.ref().build())) {
                        builds.remove(newer.ref());
                        removed++;
                    }
                }
                cacheEntries = restoreCaches(source, request.tenant(), into, contents.objects(), progress);
                restoreSettings(into, contents.tenant());
            }
            reconciliation.reconcile(into);
            quotas.refreshState(into);
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("snapshot", ref.toString());
            result.put("into", into.value());
            result.put("builds", restored.size());
            result.put("objects", contents.objects().size());
            result.put("cache_entries", cacheEntries);
            result.put("builds_removed", removed);
            LOG.info("restored {}: {} build(s), {} object(s); {} newer build(s) removed", request.describe(), restored.size(),
                    contents.objects().size(), removed);
            return result;
        } finally {
            quotas.unfence(into);
        }
    }

    private Summary chooseSnapshot(RestoreRequest request) throws IOException {
        List<Summary> snapshots = target.summaries(Optional.of(request.tenant()));
        if (request.snapshotId().isPresent()) {
            return snapshots.stream().filter(s -> s.snapshotId().equals(request.snapshotId().get())).findFirst()
                    .orElseThrow(() -> new NotFoundException("tenant '" + request.tenant() + "' has no snapshot '"
                            + printable(request.snapshotId().get()) + "' in the " + target.describe()));
        }
        long at = request.at().map(Instant::toEpochMilli).orElse(Long.MAX_VALUE);
        return snapshots.stream().filter(s -> s.takenAtMs() <= at).reduce((older, newer) -> newer)
                .orElseThrow(() -> new NotFoundException("tenant '" + request.tenant() + "' has no snapshot"
                        + request.at().map(t -> " taken at or before " + t).orElse("") + " in the " + target.describe()));
    }

    /** The lines of {@code ref} within the request's scope. */
    private Contents read(SnapshotRef ref, RestoreRequest request) throws IOException {
        TenantLine tenant = null;
        List<BuildLine> builds = new ArrayList<>();
        NavigableMap<String, ObjectLine> objects = new TreeMap<>();
        String prefix = request.build().map(b -> layout.buildKeyPrefix(new BuildRef(request.tenant(), b))).orElse("");
        String only = request.artifact().map(a -> layout.artifactKey(new BuildRef(request.tenant(), request.build().orElseThrow()), a).value())
                .orElse(null);
        try (BackupManifest.Reader lines = target.lines(ref)) {
            while (lines.hasNext()) {
                switch (lines.next()) {
                    case TenantLine line -> tenant = line;
                    case BuildLine line when request.build().isEmpty() || request.build().get().value().equals(line.buildId()) ->
                            builds.add(request.artifact().isEmpty() ? line : new BuildLine(line.buildId(), line.status(),
                                    line.failureReason(), line.createdAtMs(), line.completedAtMs(), line.artifacts().stream()
                                    .filter(a -> a.name().equals(request.artifact().get().value())).toList()));
                    case ObjectLine line when line.key().startsWith(prefix) && (only == null || only.equals(line.key())) ->
                            objects.put(line.key(), line);
                    default -> {
                    }
                }
            }
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        if (tenant == null) {
            throw new IOException("the manifest of snapshot " + ref + " has no tenant line: it is damaged");
        }
        return new Contents(tenant, builds, objects);
    }

    private void requireNoActiveBuilds(RestoreRequest request, TenantId into) {
        List<String> active = metadata.read(h -> BuildRows.ofTenant(h, into)).stream().filter(BuildInfo::isActive)
                .map(build -> build.ref().build().value())
                .filter(build -> request.build().isEmpty() || request.build().get().value().equals(build)).toList();
        if (!active.isEmpty()) {
            throw new ConflictException("tenant '" + into + "' has active build(s) " + active + " that the restore would replace;"
                    + " complete them first");
        }
    }

    private void restoreBuild(BlobStore source, RestoreRequest request, TenantId into, BuildLine line,
            NavigableMap<String, ObjectLine> objects, Progress progress) throws IOException {
        BuildRef from = new BuildRef(request.tenant(), BuildId.of(line.buildId()));
        BuildRef to = new BuildRef(into, from.build());
        layout.createTenantDirectories(into);
        List<ArtifactInfo> rows = new ArrayList<>();
        for (ArtifactLine artifact : line.artifacts()) {
            FileName name = FileName.of(artifact.name());
            BlobKey key = layout.artifactKey(from, name);
            try (InputStream in = new HashingInputStream(source.open(key, ByteRange.ALL), artifact.sha256())) {
                live.artifacts().put(layout.artifactKey(to, name), in, artifact.size(), WriteMode.OVERWRITE);
            } catch (IoErrors.ChecksumMismatchException e) {
                throw new IOException("artifact " + name + " of build " + from.build() + " in the backup does not match its recorded"
                        + " SHA-256 " + artifact.sha256() + ": the backup is damaged (run backup verify)", e);
            }
            progress.restored(artifact.size());
            rows.add(new ArtifactInfo(name, artifact.size(), artifact.sha256(), Instant.ofEpochMilli(artifact.createdAtMs())));
        }
        Set<String> restoredLogs = new HashSet<>();
        if (request.artifact().isEmpty()) {
            String logs = layout.logKeyPrefix(from);
            for (ObjectLine log : under(objects, logs)) {
                BlobKey key = BlobKey.of(log.key());
                BlobKey restored = layout.logKey(to, FileName.of(key.fileName()));
                copyBack(source, key, live.logs(), restored, progress);
                restoredLogs.add(restored.value());
            }
        }
        BuildInfo build = new BuildInfo(to, BuildStatus.valueOf(line.status()), Optional.ofNullable(line.failureReason()),
                Instant.ofEpochMilli(line.createdAtMs()), Optional.ofNullable(line.completedAtMs()).map(Instant::ofEpochMilli),
                Instant.ofEpochMilli(line.createdAtMs()), false, Optional.empty());
        boolean wholeBuild = request.artifact().isEmpty();
        metadata.inTransaction(h -> {
            if (wholeBuild || BuildRows.find(h, to).isEmpty()) {
                BuildRows.putAsRecorded(h, build);
            }
            rows.forEach(row -> ArtifactRows.upsert(h, to, row));
            return null;
        });
        builds.rowsReplaced();
        if (wholeBuild) {
            removeOthers(live.artifacts(), layout.buildKeyPrefix(to) + "rootfs/", rows.stream()
                    .map(row -> layout.artifactKey(to, row.name()).value()).collect(Collectors.toSet()), true);
            removeOthers(live.logs(), layout.logKeyPrefix(to), restoredLogs, false);
        }
        artifacts.writeManifest(to);
    }

    /** Deletes what a restored build holds beyond what was restored (the service's own files stay: they are rewritten). */
    private void removeOthers(BlobStore store, String prefix, Set<String> restored, boolean keepServiceFiles) throws IOException {
        List<BlobKey> extra = new ArrayList<>();
        Iterator<BlobInfo> blobs = store.list(prefix, null);
        while (blobs.hasNext()) {
            BlobKey key = blobs.next().key();
            if (!restored.contains(key.value()) && !(keepServiceFiles && ArtifactService.RESERVED.contains(key.fileName()))) {
                extra.add(key);
            }
        }
        store.deleteAll(extra);
    }

    private int restoreCaches(BlobStore source, TenantId from, TenantId into, NavigableMap<String, ObjectLine> objects,
            Progress progress) throws IOException {
        String prefix = layout.tenantKeyPrefix(from) + "cache/";
        int restored = 0;
        for (ObjectLine entry : under(objects, prefix)) {
            String[] typeAndKey = entry.key().substring(prefix.length()).split("/", 2);
            long size = copyBack(source, BlobKey.of(entry.key()), live.caches(),
                    BlobKey.of(layout.tenantKeyPrefix(into) + "cache/" + typeAndKey[0] + "/" + typeAndKey[1]), progress);
            long now = clock.millis();
            metadata.inTransaction(h -> {
                CacheRows.put(h, into, typeAndKey[0], typeAndKey[1], size, now);
                return null;
            });
            restored++;
        }
        return restored;
    }

    /** Writes a snapshot's object back under {@code restored}, as clients see it (decrypted); returns its size. */
    private static long copyBack(BlobStore source, BlobKey key, BlobStore store, BlobKey restored, Progress progress) throws IOException {
        long size = source.stat(key).orElseThrow(() -> new BlobNotFoundException(key)).size();
        try (InputStream in = source.open(key, ByteRange.ALL)) {
            store.put(restored, in, size, WriteMode.OVERWRITE);
        }
        progress.restored(size);
        return size;
    }

    /** The objects whose keys start with {@code prefix}. */
    private static java.util.Collection<ObjectLine> under(NavigableMap<String, ObjectLine> objects, String prefix) {
        return objects.subMap(prefix, prefix + Character.MAX_VALUE).values();
    }

    /** An ID from a request, safe to echo in an error. */
    private static String printable(String id) {
        return id.replaceAll("[^A-Za-z0-9-]", "?");
    }

    private void restoreSettings(TenantId into, TenantLine line) {
        retentionPolicies.write(into, line.retentionPolicy() == null ? RetentionPolicy.Overrides.NONE
                : RetentionPolicy.Overrides.parse(line.retentionPolicy().getBytes(java.nio.charset.StandardCharsets.UTF_8),
                        "the retention policy in the backup"));
        metadata.inTransaction(h -> {
            line.cachePolicies().forEach((type, policy) -> CacheRows.setPolicy(h, into, type, new CacheRows.PolicyRow(
                    Optional.ofNullable(policy.maxSizeBytes()), Optional.ofNullable(policy.evictionPolicy()).map(CacheRows.Order::valueOf),
                    Optional.ofNullable(policy.minRetentionSeconds()), Optional.ofNullable(policy.maxRetentionSeconds()))));
            return null;
        });
    }

    /**
     * The tenant's newest snapshot as a read-only store, under the blobs' own keys and as the
     * backends hold them (ciphertext for an encrypted tenant): what the integrity scrub repairs a
     * damaged blob from. Empty when the tenant has no snapshot.
     */
    Optional<BlobStore> newestSnapshot(TenantId tenant) {
        try {
            Optional<Summary> newest = target.newest(tenant);
            if (newest.isEmpty()) {
                return Optional.empty();
            }
            NavigableMap<String, ObjectLine> objects = new TreeMap<>();
            try (BackupManifest.Reader lines = target.lines(new SnapshotRef(tenant, newest.get().snapshotId()))) {
                lines.forEachRemaining(line -> {
                    if (line instanceof ObjectLine object) {
                        objects.put(object.key(), object);
                    }
                });
            }
            return Optional.of(new SnapshotStore(objects, target));
        } catch (IOException e) {
            throw IoErrors.translate(e, "reading the newest snapshot of tenant " + tenant + " in the " + target.describe());
        } catch (UncheckedIOException e) {
            throw IoErrors.translate(e.getCause(), "reading the newest snapshot of tenant " + tenant + " in the " + target.describe());
        }
    }

    private void requireTenant(TenantId tenant) {
        if (metadata.read(h -> TenantRows.find(h, tenant)).isEmpty()) {
            throw new NotFoundException("tenant '" + tenant + "' does not exist");
        }
    }

    /** A snapshot's objects as a read-only store under their original keys, its content read from the target. */
    private static final class SnapshotStore implements BlobStore {
        private final NavigableMap<String, ObjectLine> objects;
        private final BackupTarget target;

        SnapshotStore(NavigableMap<String, ObjectLine> objects, BackupTarget target) {
            this.objects = objects;
            this.target = target;
        }

        private ObjectLine line(BlobKey key) throws BlobNotFoundException {
            ObjectLine line = objects.get(key.value());
            if (line == null) {
                throw new BlobNotFoundException(key);
            }
            return line;
        }

        @Override
        public dev.builderd.storage.blob.BlobInfo put(BlobKey key, InputStream data, long length, WriteMode mode) throws IOException {
            throw new IOException("a backup snapshot is read-only; " + key + " was not written");
        }

        @Override
        public InputStream open(BlobKey key, ByteRange range) throws IOException {
            return target.openData(line(key).sha256(), range);
        }

        @Override
        public Optional<BlobInfo> stat(BlobKey key) {
            ObjectLine line = objects.get(key.value());
            return Optional.ofNullable(line).map(l -> new BlobInfo(key, l.size(), Instant.ofEpochMilli(l.modifiedAtMs())));
        }

        @Override
        public boolean delete(BlobKey key) throws IOException {
            throw new IOException("a backup snapshot is read-only; " + key + " was not deleted");
        }

        @Override
        public Iterator<BlobInfo> list(String prefix, BlobKey startAfter) {
            NavigableMap<String, ObjectLine> tail = startAfter == null ? objects : objects.tailMap(startAfter.value(), false);
            return tail.values().stream().filter(line -> line.key().startsWith(prefix))
                    .map(line -> new BlobInfo(BlobKey.of(line.key()), line.size(), Instant.ofEpochMilli(line.modifiedAtMs()))).iterator();
        }

        @Override
        public String backendName() {
            return "backup snapshot";
        }
    }

    // ---------------------------------------------------------------- verify

    private Map<String, Object> verify(Optional<TenantId> tenant, Optional<String> snapshotId, Progress progress) throws IOException {
        List<Summary> chosen = target.summaries(tenant).stream()
                .filter(s -> snapshotId.isEmpty() || snapshotId.get().equals(s.snapshotId())).toList();
        if (snapshotId.isPresent() && chosen.isEmpty()) {
            throw new NotFoundException("tenant '" + tenant.orElseThrow() + "' has no snapshot '"
                    + printable(snapshotId.get()) + "' in the " + target.describe());
        }
        chosen.forEach(s -> progress.planned(s.objects()));
        Map<String, String> damaged = new HashMap<>();
        Set<String> sound = new HashSet<>();
        List<Map<String, String>> problems = new ArrayList<>();
        long objects = 0;
        for (Summary summary : chosen) {
            SnapshotRef ref = new SnapshotRef(TenantId.of(summary.tenant()), summary.snapshotId());
            if (summary.encryption() && target.keyset(ref.tenant()).isEmpty()) {
                problems.add(Map.of("snapshot", ref.toString(), "problem", "the tenant's keyset is not archived (shredded by a purge):"
                        + " its ciphertext cannot be read"));
            }
            try (BackupManifest.Reader lines = target.lines(ref)) {
                while (lines.hasNext()) {
                    if (!(lines.next() instanceof ObjectLine line)) {
                        continue;
                    }
                    objects++;
                    String problem = damaged.get(line.sha256());
                    if (problem == null && !sound.contains(line.sha256())) {
                        problem = check(line, progress).orElse(null);
                        if (problem == null) {
                            sound.add(line.sha256());
                        } else {
                            damaged.put(line.sha256(), problem);
                        }
                    } else {
                        progress.object(line.size(), false);
                    }
                    if (problem != null) {
                        problems.add(Map.of("snapshot", ref.toString(), "key", line.key(),
                                "content", BackupTarget.dataKey(line.sha256()).value(), "problem", problem));
                    }
                }
            } catch (BlobNotFoundException e) {
                problems.add(Map.of("snapshot", ref.toString(), "problem", "its manifest is missing"));
            } catch (UncheckedIOException e) {
                problems.add(Map.of("snapshot", ref.toString(), "problem", String.valueOf(e.getMessage())));
            }
        }
        verifyProblems.set(problems.size());
        if (!problems.isEmpty()) {
            LOG.error("backup verify found {} problem(s) in the {}: {}", problems.size(), target.describe(),
                    problems.subList(0, Math.min(20, problems.size())));
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("ok", problems.isEmpty());
        result.put("snapshots", chosen.size());
        result.put("objects", objects);
        result.put("contents_read", sound.size() + damaged.size());
        result.put("problems", problems);
        return result;
    }

    /** Reads one content object whole and compares its SHA-256 with its address; the problem, if any. */
    private Optional<String> check(ObjectLine line, Progress progress) throws IOException {
        try (HashingInputStream in = new HashingInputStream(target.openData(line.sha256(), ByteRange.ALL), null)) {
            byte[] buffer = new byte[1 << 20];
            long size = 0;
            for (int n; (n = in.read(buffer)) >= 0; ) {
                size += n;
                progress.read(n);
            }
            progress.object(size, false);
            if (!in.sha256().equals(line.sha256())) {
                return Optional.of("its SHA-256 is " + in.sha256() + ", not " + line.sha256() + " (the content is damaged)");
            }
            if (size != line.size()) {
                return Optional.of("it holds " + size + " bytes, not " + line.size());
            }
            return Optional.empty();
        } catch (BlobNotFoundException e) {
            progress.object(0, false);
            return Optional.of("the content is missing from the " + target.describe());
        }
    }

    // ---------------------------------------------------------------- prune

    private Map<String, Object> prune(Retention retention, Progress progress) throws IOException {
        Instant now = clock.instant();
        Set<String> existing = metadata.read(TenantRows::all).stream().map(t -> t.id().value()).collect(Collectors.toSet());
        Map<String, List<Summary>> byTenant = target.summaries(Optional.empty()).stream()
                .collect(Collectors.groupingBy(Summary::tenant, TreeMap::new, Collectors.toList()));
        List<SnapshotRef> kept = new ArrayList<>();
        List<String> deleted = new ArrayList<>();
        for (Map.Entry<String, List<Summary>> tenant : byTenant.entrySet()) {
            Set<String> keep = retention.keep(tenant.getValue(), now, existing.contains(tenant.getKey()));
            for (Summary snapshot : tenant.getValue()) {
                SnapshotRef ref = new SnapshotRef(TenantId.of(snapshot.tenant()), snapshot.snapshotId());
                if (keep.contains(snapshot.snapshotId())) {
                    kept.add(ref);
                } else {
                    target.delete(ref);
                    deleted.add(ref.toString());
                }
            }
        }
        // No backup runs meanwhile (one job at a time): a snapshot without a summary is one that stopped half-way.
        List<SnapshotRef> unfinished = target.unfinished();
        for (SnapshotRef ref : unfinished) {
            target.delete(ref);
        }
        Set<String> referenced = new HashSet<>();
        for (SnapshotRef ref : kept) {
            try (BackupManifest.Reader lines = target.lines(ref)) {
                lines.forEachRemaining(line -> {
                    if (line instanceof ObjectLine object) {
                        referenced.add(object.sha256());
                    }
                });
            } catch (UncheckedIOException e) {
                throw new IOException("cannot read the manifest of snapshot " + ref + " (" + e.getMessage()
                        + "); nothing unreferenced was deleted, since its content could not be told apart", e);
            }
        }
        long removed = 0;
        List<String> batch = new ArrayList<>();
        Iterator<String> contents = target.contentAddresses();
        try {
            while (contents.hasNext()) {
                String sha256 = contents.next();
                if (!referenced.contains(sha256)) {
                    batch.add(sha256);
                    if (batch.size() == 1000) {
                        removed += target.deleteContent(batch);
                        batch.clear();
                    }
                }
                progress.object(0, false);
            }
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        removed += target.deleteContent(batch);
        LOG.info("backup prune: {} snapshot(s) deleted, {} kept, {} unfinished removed, {} content object(s) deleted",
                deleted.size(), kept.size(), unfinished.size(), removed);
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("snapshots_deleted", deleted);
        result.put("snapshots_kept", kept.size());
        result.put("unfinished_removed", unfinished.size());
        result.put("contents_deleted", removed);
        return result;
    }

    @Override
    public void close() {
        jobs.shutdownNow();
        copiers.shutdownNow();
    }
}
