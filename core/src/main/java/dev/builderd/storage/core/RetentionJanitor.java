package dev.builderd.storage.core;

import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.error.StorageException;
import dev.builderd.storage.core.metadata.ArtifactRows;
import dev.builderd.storage.core.metadata.BuildRows;
import dev.builderd.storage.core.metadata.JanitorRows;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.TenantRows;
import dev.builderd.storage.core.model.ArtifactInfo;
import dev.builderd.storage.core.model.BuildInfo;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.BuildStatus;
import dev.builderd.storage.core.model.JanitorDeletion;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.TenantInfo;
import dev.builderd.storage.core.model.Tier;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies the tenants' {@link RetentionPolicy retention policies}: reads and sets them, tells
 * what a run would delete and why (a dry run computes exactly the list a run then deletes), and
 * runs (on a schedule, or on demand). A build is deleted through {@link BuildService#delete}, so
 * its bytes go back to the quota and its files are removed without following links; logs through
 * {@link LogService}. What was deleted is recorded ({@link #deletions}).
 */
public final class RetentionJanitor {

    private static final Logger LOG = LoggerFactory.getLogger(RetentionJanitor.class);
    private static final Principal JANITOR = new Principal.Admin();
    /** The most deletions one read of the record returns. */
    public static final int MAX_LIMIT = 1000;

    /** A tenant's policy in force, where its values come from, and its file. */
    public record PolicyView(TenantId tenant, Tier tier, RetentionPolicy policy, RetentionPolicy tierDefaults,
            RetentionPolicy.Overrides overrides) {
    }

    /** What a run would delete under {@code policy}, in the order it deletes. */
    public record Plan(RetentionPolicy policy, List<JanitorDeletion> deletions) {
        public Plan {
            deletions = List.copyOf(deletions);
        }
    }

    /** What a run deleted, and how many of its planned deletions failed (they are tried again at the next run). */
    public record Ran(List<JanitorDeletion> deleted, int failed) {
        public Ran {
            deleted = List.copyOf(deleted);
        }
    }

    private final MetadataStore metadata;
    private final RetentionPolicies policies;
    private final BuildService builds;
    private final LogService logs;
    private final JanitorLog record;
    private final Clock clock;

    RetentionJanitor(MetadataStore metadata, RetentionPolicies policies, BuildService builds, LogService logs, JanitorLog record,
            Clock clock) {
        this.metadata = metadata;
        this.policies = policies;
        this.builds = builds;
        this.logs = logs;
        this.record = record;
        this.clock = clock;
    }

    /** The tenant's policy in force; the tenant itself may read it. */
    public PolicyView policy(Principal caller, TenantId tenant) {
        caller.requireRead(tenant);
        return view(requireTenant(tenant));
    }

    /**
     * Replaces the tenant's own values (none: back to its tier's policy) and writes its file.
     * Only the admin may.
     */
    public PolicyView setPolicy(Principal caller, TenantId tenant, RetentionPolicy.Overrides overrides) {
        caller.requireAdmin("setting a retention policy");
        TenantInfo info = requireTenant(tenant);
        policies.write(tenant, overrides);
        LOG.info("retention policy of tenant {} set: {}", tenant, overrides.toJson());
        return view(info);
    }

    /** What a run would delete now, and why, without deleting anything. */
    public Plan dryRun(Principal caller, TenantId tenant) {
        caller.requireRead(tenant);
        TenantInfo info = requireTenant(tenant);
        return plan(info, view(info).policy());
    }

    /** The tenant's latest recorded deletions (retention and orphans), newest first. */
    public List<JanitorDeletion> deletions(Principal caller, TenantId tenant, int limit) {
        caller.requireRead(tenant);
        if (limit < 1 || limit > MAX_LIMIT) {
            throw new InvalidInputException("limit " + limit + " is invalid: use 1 to " + MAX_LIMIT);
        }
        requireTenant(tenant);
        return metadata.read(h -> JanitorRows.latest(h, tenant, limit));
    }

    /** Applies the tenant's policy now (the admin only). */
    public Ran run(Principal caller, TenantId tenant) {
        caller.requireAdmin("running the retention janitor");
        return run(requireTenant(tenant));
    }

    /** Applies every tenant's policy; a tenant whose policy or deletions fail is logged and left for the next run. */
    void runAll() {
        boolean ok = true;
        for (TenantInfo tenant : metadata.read(TenantRows::all)) {
            try {
                ok &= run(tenant).failed() == 0;
            } catch (RuntimeException e) {
                ok = false;
                LOG.error("retention of tenant {} skipped this run: {}", tenant.id(), e.getMessage());
            }
        }
        record.finished(JanitorLog.Job.RETENTION, ok);
    }

    /** Plans and deletes while no other janitor job runs, so that two runs never plan against each other's deletions. */
    private Ran run(TenantInfo tenant) {
        return record.exclusively(() -> {
            List<JanitorDeletion> done = new ArrayList<>();
            int failed = 0;
            for (JanitorDeletion planned : plan(tenant, view(tenant).policy()).deletions()) {
                try {
                    JanitorDeletion deleted = planned;
                    if (planned.kind() == JanitorDeletion.Kind.LOGS) {
                        deleted = withBytes(planned, logs.deleteAll(planned.build()));
                    } else {
                        builds.delete(JANITOR, planned.build());
                    }
                    record.deleted(deleted);
                    done.add(deleted);
                } catch (NotFoundException goneMeanwhile) {
                    LOG.debug("build {} went before the janitor reached it", planned.build());
                } catch (StorageException e) {
                    failed++;
                    LOG.warn("retention could not delete {} of build {}: {}", planned.kind().wireName(), planned.build(), e.getMessage());
                }
            }
            return new Ran(done, failed);
        });
    }

    private static JanitorDeletion withBytes(JanitorDeletion deletion, long bytes) {
        return new JanitorDeletion(deletion.build(), deletion.kind(), deletion.item(), deletion.reason(), bytes, deletion.at());
    }

    /** The deletions the policy asks for now: the one evaluation behind dry runs and runs. */
    private Plan plan(TenantInfo tenant, RetentionPolicy policy) {
        Instant now = clock.instant();
        List<BuildInfo> finished = metadata.read(h -> BuildRows.ofTenant(h, tenant.id())).stream()
                .filter(build -> !build.isActive())
                .sorted(Comparator.comparing(RetentionJanitor::finishedAt).thenComparing(build -> build.ref().build().value()))
                .toList();
        Set<BuildRef> lastSuccessful = finished.reversed().stream().filter(build -> build.status() == BuildStatus.SUCCEEDED)
                .limit(policy.keepLastSuccessful()).map(BuildInfo::ref).collect(Collectors.toSet());
        List<JanitorDeletion> deletions = new ArrayList<>();
        for (BuildInfo build : finished) {
            if (lastSuccessful.contains(build.ref())) {
                continue;
            }
            long days = Duration.between(finishedAt(build), now).toDays();
            String ago = build.status().wireName() + " " + days + " day(s) ago";
            if (build.status() == BuildStatus.SUCCEEDED && days >= policy.artifactMaxAgeDays()) {
                deletions.add(deletion(build, JanitorDeletion.Kind.BUILD, ago + "; succeeded builds are kept "
                        + policy.artifactMaxAgeDays() + " day(s) (artifact_max_age_days) and this is not one of the last "
                        + policy.keepLastSuccessful() + " successful build(s) (keep_last_successful)", buildBytes(build.ref()), now));
            } else if (build.status() == BuildStatus.FAILED && days >= policy.failedBuildMaxAgeDays()) {
                deletions.add(deletion(build, JanitorDeletion.Kind.BUILD, ago + "; failed builds are kept "
                        + policy.failedBuildMaxAgeDays() + " day(s) (failed_build_max_age_days)", buildBytes(build.ref()), now));
            } else if (days >= policy.logMaxAgeDays()) {
                long logBytes = builds.logBytes(build.ref());
                if (logBytes > 0) {
                    deletions.add(deletion(build, JanitorDeletion.Kind.LOGS, ago + "; logs are kept " + policy.logMaxAgeDays()
                            + " day(s) (log_max_age_days)", logBytes, now));
                }
            }
        }
        return new Plan(policy, deletions);
    }

    private static JanitorDeletion deletion(BuildInfo build, JanitorDeletion.Kind kind, String reason, long bytes, Instant now) {
        return new JanitorDeletion(build.ref(), kind, "", reason, bytes, now);
    }

    /** A finished build's age counts from its completion (a row from before completions were recorded: its creation). */
    private static Instant finishedAt(BuildInfo build) {
        return build.completed().orElse(build.created());
    }

    /** What deleting the build gives back to the quota: its artifacts and its logs. */
    private long buildBytes(BuildRef ref) {
        return metadata.read(h -> ArtifactRows.ofBuild(h, ref)).stream().mapToLong(ArtifactInfo::size).sum() + builds.logBytes(ref);
    }

    private PolicyView view(TenantInfo tenant) {
        RetentionPolicy defaults = RetentionPolicy.defaults(tenant.tier());
        RetentionPolicy.Overrides overrides = policies.read(tenant.id());
        return new PolicyView(tenant.id(), tenant.tier(), defaults.with(overrides), defaults, overrides);
    }

    private TenantInfo requireTenant(TenantId tenant) {
        return metadata.read(h -> TenantRows.find(h, tenant))
                .orElseThrow(() -> new NotFoundException("tenant '" + tenant + "' does not exist"));
    }
}
