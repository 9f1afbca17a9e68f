package dev.builderd.storage.core;

import dev.builderd.storage.core.error.AlreadyExistsException;
import dev.builderd.storage.core.error.ConflictException;
import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.error.LimitExceededException;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.fs.TenantIsolation;
import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.core.metadata.ArtifactRows;
import dev.builderd.storage.core.metadata.BuildRows;
import dev.builderd.storage.core.metadata.NodeRows;
import dev.builderd.storage.core.error.MisdirectedException;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildInfo;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.ArtifactInfo;
import dev.builderd.storage.core.model.BuildStatus;
import dev.builderd.storage.core.quota.Category;
import dev.builderd.storage.core.quota.Quotas;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.TenantInfo;
import java.io.IOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The life of a build: created with private directories (within the tier's concurrent-build
 * limit), kept alive by its worker's lease, completed (scratch and workspace cleaned, artifacts
 * and logs kept) or deleted. A build whose lease runs out is failed and cleaned like a build
 * completed as failed; this is checked whenever builds are read or created, and in the
 * background.
 */
public final class BuildService {

    private static final Logger LOG = LoggerFactory.getLogger(BuildService.class);
    static final String LEASE_EXPIRED = "lease expired: the worker stopped renewing it";

    /**
     * A build and where its directories are.
     *
     * @param paths the build's directories on this node; empty when another node hosts the build
     *     (its workspace and temp exist only there)
     * @param hostUrl where the host node's API is, when another node hosts the build and advertised it
     */
    public record BuildView(BuildInfo build, Optional<Layout.BuildPaths> paths, Optional<String> hostUrl) {
    }

    private final MetadataStore metadata;
    private final Layout layout;
    private final Erasure erasure;
    private final BuildActivity activity;
    private final CoreConfig config;
    private final Clock clock;
    private final Quotas quotas;
    private final BlobStore logs;
    private final String node;
    private final TenantIsolation isolation;
    private final Tokens tokens;

    /**
     * @param plain the stores as they are (erasure needs no keys)
     * @param logs the log store as clients see it (plaintext sizes), to give a deleted build's log bytes back to the quota
     * @param tokens told when a build is deleted, which ends the build's tokens
     */
    BuildService(MetadataStore metadata, Stores plain, BlobStore logs, BuildActivity activity, CoreConfig config, Quotas quotas,
            TenantIsolation isolation, Clock clock, String node, Tokens tokens) {
        this.isolation = isolation;
        this.tokens = tokens;
        this.node = node;
        this.metadata = metadata;
        this.quotas = quotas;
        this.logs = logs;
        this.layout = config.layout();
        this.erasure = new Erasure(config.layout(), plain);
        this.activity = activity;
        this.config = config;
        this.clock = clock;
    }

    /**
     * Creates a build with a fresh or given ID and its directories.
     *
     * @param lease how long the build stays active without a heartbeat; null for the default
     * @throws LimitExceededException when the tenant already runs its tier's number of builds
     */
    public BuildView create(Principal caller, TenantId tenant, Optional<BuildId> requested, Duration lease) {
        caller.requireWrite(tenant);
        quotas.requireWritable(tenant);
        Duration effectiveLease = checkLease(lease);
        BuildRef ref = new BuildRef(tenant, requested.orElseGet(BuildId::random));
        List<BuildInfo> expired = metadata.inTransaction(h -> {
            TenantInfo info = metadata.lockedTenant(h, tenant)
                    .orElseThrow(() -> new NotFoundException("tenant '" + tenant + "' does not exist"));
            List<BuildInfo> reaped = expireLeases(h, tenant);
            if (BuildRows.find(h, ref).isPresent()) {
                throw new AlreadyExistsException("build '" + ref.build() + "' of tenant '" + tenant + "' exists already");
            }
            int active = BuildRows.countActive(h, tenant);
            int limit = quotas.limits(h, info).concurrentBuilds();
            if (active >= limit) {
                throw new LimitExceededException("tenant '" + tenant + "' already runs " + active + " build(s), its limit (tier "
                        + info.tier().wireName() + "); complete or delete one first");
            }
            Instant now = clock.instant();
            BuildRows.insert(h, ref, now, now.plus(effectiveLease), node);
            return reaped;
        });
        expired.forEach(build -> cleanScratch(build.ref()));
        try {
            layout.createBuildDirectories(ref);
            isolation.handOver(ref);
        } catch (IOException e) {
            cleanScratch(ref);
            metadata.inTransaction(h -> BuildRows.delete(h, ref));
            throw IoErrors.translate(e, "creating the directories of build " + ref);
        }
        LOG.info("build {} created", ref);
        return view(require(ref));
    }

    public BuildView get(Principal caller, BuildRef ref) {
        caller.requireRead(ref);
        reapExpired(ref.tenant());
        return view(require(ref));
    }

    public List<BuildView> list(Principal caller, TenantId tenant) {
        caller.requireRead(tenant);
        reapExpired(tenant);
        return metadata.read(h -> BuildRows.ofTenant(h, tenant)).stream().map(this::view).toList();
    }

    /** Extends the lease of an active build by {@code lease} (null for the default) from now. */
    public BuildView renewLease(Principal caller, BuildRef ref, Duration lease) {
        caller.requireWrite(ref);
        Duration effectiveLease = checkLease(lease);
        reapExpired(ref.tenant());
        boolean renewed = metadata.inTransaction(h -> BuildRows.renewLease(h, ref, clock.instant().plus(effectiveLease)));
        if (!renewed) {
            BuildInfo build = require(ref);
            throw new ConflictException("build " + ref + " is " + build.status().wireName() + describeReason(build)
                    + "; only an active build has a lease");
        }
        return view(require(ref));
    }

    /**
     * Completes an active build: its {@code temp/} and {@code workspace/} are deleted at once;
     * artifacts and logs stay. A completed build accepts no more uploads.
     */
    public BuildView complete(Principal caller, BuildRef ref, BuildStatus status) {
        caller.requireWrite(ref);
        quotas.requireWritable(ref.tenant());
        if (status == BuildStatus.ACTIVE) {
            throw new InvalidInputException("a build is completed as succeeded or failed, not active");
        }
        activity.closeBuild(ref, "complete", () -> {
            if (!metadata.inTransaction(h -> BuildRows.finish(h, ref, status, null, clock.instant()))) {
                BuildInfo build = require(ref);
                throw new ConflictException("build " + ref + " is already " + build.status().wireName() + describeReason(build));
            }
            return null;
        });
        cleanScratch(ref);
        LOG.info("build {} completed as {}", ref, status.wireName());
        return view(require(ref));
    }

    /**
     * Called once a restore replaced build rows: their tokens went with the old rows (a cascading
     * foreign key), so none may still be trusted.
     */
    void rowsReplaced() {
        tokens.distrustAll();
    }

    /** Deletes the build, its artifacts, logs, directories and tokens. */
    public void delete(Principal caller, BuildRef ref) {
        caller.requireWrite(ref.tenant());
        quotas.requireWritable(ref.tenant());
        remove(ref);
    }

    /** Deletes the build, its artifacts, logs and directories, fenced or not: for the restore that fenced it. */
    void remove(BuildRef ref) {
        activity.closeBuild(ref, "delete", () -> {
            long logBytes = logBytes(ref);
            boolean deleted = metadata.inTransaction(h -> {
                if (BuildRows.find(h, ref).isEmpty()) {
                    return false;
                }
                long artifactBytes = ArtifactRows.ofBuild(h, ref).stream().mapToLong(ArtifactInfo::size).sum();
                quotas.adjust(h, ref.tenant(), Category.ARTIFACTS, -artifactBytes);
                quotas.adjust(h, ref.tenant(), Category.LOGS, -logBytes);
                return BuildRows.delete(h, ref);
            });
            if (!deleted) {
                throw new NotFoundException("build '" + ref.build() + "' of tenant '" + ref.tenant() + "' does not exist");
            }
            // The build's tokens went with its row (a cascading foreign key).
            tokens.distrustAll();
            return null;
        });
        erasure.eraseBuild(ref);
        LOG.info("build {} deleted", ref);
    }

    /** The bytes of the build's logs, as clients see them. */
    long logBytes(BuildRef ref) {
        long bytes = 0;
        try {
            Iterator<BlobInfo> blobs = logs.list(layout.logKeyPrefix(ref), null);
            while (blobs.hasNext()) {
                bytes += blobs.next().size();
            }
        } catch (IOException e) {
            throw IoErrors.translate(e, "listing the logs of build " + ref);
        } catch (java.io.UncheckedIOException e) {
            throw IoErrors.translate(e.getCause(), "listing the logs of build " + ref);
        }
        return bytes;
    }

    /** Fails and cleans every build, of every tenant, whose lease has run out. Returns how many. */
    public int reapExpiredLeases() {
        return reapExpired(null);
    }

    private int reapExpired(TenantId tenantOrNull) {
        // Every read of builds comes here: look first on a read connection, so that the single
        // SQLite writer is only taken when there is a lease to expire.
        if (metadata.read(h -> BuildRows.expired(h, tenantOrNull, clock.instant())).isEmpty()) {
            return 0;
        }
        List<BuildInfo> reaped = metadata.inTransaction(h -> expireLeases(h, tenantOrNull));
        reaped.forEach(build -> cleanScratch(build.ref()));
        return reaped.size();
    }

    /** Fails the expired builds without uploads in flight (an upload in progress proves the worker lives). */
    private List<BuildInfo> expireLeases(Handle h, TenantId tenantOrNull) {
        Instant now = clock.instant();
        return BuildRows.expired(h, tenantOrNull, now).stream()
                .filter(build -> !activity.hasUploads(h, build.ref()))
                .filter(build -> BuildRows.finish(h, build.ref(), BuildStatus.FAILED, LEASE_EXPIRED, now))
                .peek(build -> LOG.warn("build {} failed: {}", build.ref(), LEASE_EXPIRED))
                .toList();
    }

    private void cleanScratch(BuildRef ref) {
        for (Layout.RootedPath directory : layout.scratchDirectories(ref)) {
            try {
                SafeTree.delete(directory.root(), directory.path());
            } catch (IOException e) {
                LOG.error("could not clean {} of build {}: {}", directory.path(), ref, e.getMessage());
            }
        }
    }

    private Duration checkLease(Duration lease) {
        if (lease == null) {
            return config.defaultLease();
        }
        if (lease.isNegative() || lease.isZero() || lease.compareTo(config.maxLease()) > 0) {
            throw new InvalidInputException("lease of " + lease.toSeconds() + " s is invalid: use 1 to "
                    + config.maxLease().toSeconds() + " seconds");
        }
        return lease;
    }

    BuildInfo require(BuildRef ref) {
        return metadata.read(h -> BuildRows.find(h, ref))
                .orElseThrow(() -> new NotFoundException("build '" + ref.build() + "' of tenant '" + ref.tenant() + "' does not exist"));
    }

    /** Throws {@link ConflictException} unless the build exists and is active: only then may anything of it change. */
    void requireActive(BuildRef ref) {
        BuildInfo build = require(ref);
        if (!build.isActive()) {
            throw new ConflictException("build " + ref + " is " + build.status().wireName() + describeReason(build)
                    + "; a completed build is immutable");
        }
    }

    static String describeReason(BuildInfo build) {
        return build.failureReason().map(reason -> " (" + reason + ")").orElse("");
    }

    private BuildView view(BuildInfo build) {
        if (build.isHostedOn(node)) {
            return new BuildView(build, Optional.of(layout.buildPaths(build.ref())), Optional.empty());
        }
        return new BuildView(build, Optional.empty(), build.hostNode().flatMap(this::urlOf));
    }

    private Optional<String> urlOf(String host) {
        return metadata.read(h -> NodeRows.urlOf(h, host));
    }

    /**
     * The build's directories, which exist only on the node that created it.
     *
     * @throws MisdirectedException on any other node, naming the host and its URL
     */
    public Layout.BuildPaths paths(Principal caller, BuildRef ref) {
        caller.requireRead(ref);
        return requireHostedHere(require(ref), "its directories");
    }

    /**
     * The build's directories on this node, the one that hosts it.
     *
     * @param what what the caller needs the directories for, for the error message
     * @throws MisdirectedException when another node hosts the build
     */
    Layout.BuildPaths requireHostedHere(BuildInfo build, String what) {
        if (!build.isHostedOn(node)) {
            String host = build.hostNode().orElseThrow();
            Optional<String> url = urlOf(host);
            throw new MisdirectedException("build " + build.ref() + " was created on node " + host + ", where " + what
                    + " are; this is node " + node + ". Send the request to " + url.orElse("that node")
                    + " (artifacts, logs and caches work through any node)", host, url);
        }
        return layout.buildPaths(build.ref());
    }

    /**
     * Deletes the {@code temp/} and {@code workspace/} left on this node by builds it hosts that
     * were completed, failed or reaped through another node (which has no such directories to clean).
     * Returns how many builds had some.
     */
    int cleanFinishedHostedHere() {
        int cleaned = 0;
        for (BuildInfo build : metadata.read(h -> BuildRows.finishedOn(h, node))) {
            boolean left = layout.scratchDirectories(build.ref()).stream().anyMatch(d -> java.nio.file.Files.exists(d.path(),
                    java.nio.file.LinkOption.NOFOLLOW_LINKS));
            if (left) {
                cleanScratch(build.ref());
                cleaned++;
            }
        }
        return cleaned;
    }
}
