package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.core.error.ForbiddenException;
import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.BuildStatus;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.JanitorDeletion;
import dev.builderd.storage.core.model.JanitorDeletion.Kind;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import dev.builderd.storage.core.quota.Category;
import dev.builderd.storage.testing.MovableClock;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The retention janitor and the orphan sweep on the embedded core, on a clock the test moves:
 * what a policy deletes (max age, keep last N, failed builds, logs), that a dry run lists exactly
 * what a run deletes, and that orphans go only after their grace period, never taking a build the
 * metadata knows or another tenant's files. On SQLite here, PostgreSQL in
 * {@link PostgresRetentionJanitorTest}.
 */
class RetentionJanitorTest {

    static final Principal ADMIN = new Principal.Admin();
    static final TenantId ACME = TenantId.of("acme");
    static final TenantId GLOBEX = TenantId.of("globex");
    static final Duration GRACE = Duration.ofHours(1);

    @TempDir
    Path dataRoot;
    final MovableClock clock = new MovableClock();
    MetadataStore metadata;
    BuilderdStorage storage;
    Layout layout;

    MetadataLocation metadataLocation() {
        return MetadataLocation.sqlite(dataRoot.resolve("metadata/builderd.db"));
    }

    @BeforeEach
    void open() throws IOException {
        metadata = MetadataStore.open(metadataLocation());
        layout = Layout.under(dataRoot);
        CoreConfig defaults = CoreConfig.defaults(layout);
        // Leases as long as the test's months, so that an active build stays active while the clock moves.
        CoreConfig config = new CoreConfig(layout, Duration.ofDays(200), Duration.ofDays(200), defaults.leaseCheckInterval(),
                defaults.sameNameUploadWait(), defaults.encryption(), defaults.quotas(), defaults.cachePolicy(),
                new CoreConfig.Janitor(Duration.ofDays(365), GRACE));
        storage = new BuilderdStorage(config, metadata, Stores.single(new FileBlobStore(dataRoot)), "admin-token-for-tests", clock);
    }

    @AfterEach
    void close() {
        storage.close();
        metadata.close();
    }

    private RetentionPolicy.Overrides overrides(String json) {
        return RetentionPolicy.Overrides.parse(json.getBytes(StandardCharsets.UTF_8), "test");
    }

    /** A build that publishes an artifact and a log of the given sizes, then finishes with {@code status}. */
    private BuildRef finished(TenantId tenant, String id, BuildStatus status, int artifactBytes, int logBytes) {
        BuildRef ref = storage.builds().create(ADMIN, tenant, Optional.of(BuildId.of(id)), null).build().ref();
        storage.artifacts().upload(ADMIN, ref, FileName.of("rootfs.ext4"), new ByteArrayInputStream(new byte[artifactBytes]),
                artifactBytes, null);
        storage.logs().put(ADMIN, ref, FileName.of("build.log"), new ByteArrayInputStream(new byte[logBytes]), logBytes);
        storage.builds().complete(ADMIN, ref, status);
        return ref;
    }

    private long ledger(TenantId tenant, Category category) {
        return storage.quotas().usage(tenant).lines().get(category).used();
    }

    @Test
    void aPolicyDeletesOldBuildsKeepsTheLastSuccessfulOnesAndDropsOldLogsAndADryRunListsExactlyThat() {
        storage.tenants().put(ADMIN, ACME, Tier.ENTERPRISE, null);
        storage.retention().setPolicy(ADMIN, ACME, overrides(
                "{\"artifact_max_age_days\":10,\"keep_last_successful\":1,\"failed_build_max_age_days\":5,\"log_max_age_days\":3}"));
        BuildRef active = storage.builds().create(ADMIN, ACME, Optional.of(BuildId.of("active")), null).build().ref();
        BuildRef s1 = finished(ACME, "s1", BuildStatus.SUCCEEDED, 100, 10);
        clock.advance(Duration.ofDays(1));
        BuildRef f1 = finished(ACME, "f1", BuildStatus.FAILED, 200, 20);
        clock.advance(Duration.ofDays(4));
        BuildRef s2 = finished(ACME, "s2", BuildStatus.SUCCEEDED, 300, 30);
        clock.advance(Duration.ofDays(4));
        BuildRef f2 = finished(ACME, "f2", BuildStatus.FAILED, 400, 40);
        clock.advance(Duration.ofDays(1));
        BuildRef s3 = finished(ACME, "s3", BuildStatus.SUCCEEDED, 500, 50);
        clock.advance(Duration.ofDays(2));
        long artifactsBefore = ledger(ACME, Category.ARTIFACTS);
        long logsBefore = ledger(ACME, Category.LOGS);

        List<JanitorDeletion> planned = storage.retention().dryRun(ADMIN, ACME).deletions();

        assertThat(planned).extracting(JanitorDeletion::build, JanitorDeletion::kind, JanitorDeletion::bytes).containsExactly(
                org.assertj.core.groups.Tuple.tuple(s1, Kind.BUILD, 110L),
                org.assertj.core.groups.Tuple.tuple(f1, Kind.BUILD, 220L),
                org.assertj.core.groups.Tuple.tuple(s2, Kind.LOGS, 30L),
                org.assertj.core.groups.Tuple.tuple(f2, Kind.LOGS, 40L));
        assertThat(planned.get(0).reason()).contains("succeeded 12 day(s) ago", "artifact_max_age_days", "keep_last_successful");
        assertThat(planned.get(1).reason()).contains("failed 11 day(s) ago", "failed_build_max_age_days");
        assertThat(planned.get(2).reason()).contains("log_max_age_days");
        assertThat(storage.builds().get(ADMIN, s1)).as("a dry run deletes nothing").isNotNull();
        assertThat(storage.retention().deletions(ADMIN, ACME, 10)).isEmpty();

        RetentionJanitor.Ran ran = storage.retention().run(ADMIN, ACME);
        List<JanitorDeletion> deleted = ran.deleted();

        assertThat(deleted).as("the run deletes exactly what the dry run listed").isEqualTo(planned);
        assertThat(ran.failed()).isZero();
        assertThatThrownBy(() -> storage.builds().get(ADMIN, s1)).isInstanceOf(NotFoundException.class);
        assertThatThrownBy(() -> storage.builds().get(ADMIN, f1)).isInstanceOf(NotFoundException.class);
        assertThat(Files.exists(layout.buildDirectory(dataRoot, s1))).isFalse();
        assertThat(storage.artifacts().list(ADMIN, s2)).hasSize(1);
        assertThat(storage.logs().list(ADMIN, s2)).isEmpty();
        assertThat(storage.logs().list(ADMIN, s3)).as("the last successful build keeps its logs").hasSize(1);
        assertThat(storage.builds().get(ADMIN, active).build().isActive()).isTrue();
        assertThat(ledger(ACME, Category.ARTIFACTS)).isEqualTo(artifactsBefore - 300);
        assertThat(ledger(ACME, Category.LOGS)).isEqualTo(logsBefore - 100);
        assertThat(storage.retention().deletions(ADMIN, ACME, 10)).containsExactlyInAnyOrderElementsOf(deleted);
        assertThat(storage.retention().dryRun(ADMIN, ACME).deletions()).as("nothing left to do").isEmpty();
    }

    @Test
    void theTiersDefaultsApplyAndTheLastSuccessfulBuildsAreKeptWhateverTheirAge() {
        storage.tenants().put(ADMIN, ACME, Tier.PRO, null);
        for (int i = 0; i < 7; i++) {
            finished(ACME, "s" + i, BuildStatus.SUCCEEDED, 10, 1);
            clock.advance(Duration.ofHours(1));
        }
        clock.advance(Duration.ofDays(29));
        assertThat(storage.retention().dryRun(ADMIN, ACME).deletions()).as("30 days on pro").isEmpty();

        clock.advance(Duration.ofDays(365));

        assertThat(storage.retention().policy(ADMIN, ACME).policy())
                .isEqualTo(new RetentionPolicy(30, RetentionPolicy.DEFAULT_KEEP_LAST_SUCCESSFUL, 30, 30));
        assertThat(storage.retention().dryRun(ADMIN, ACME).deletions()).extracting(deletion -> deletion.build().build().value())
                .as("all but the last five").containsExactly("s0", "s1");
        storage.tenants().put(ADMIN, ACME, Tier.ENTERPRISE, null);
        assertThat(storage.retention().policy(ADMIN, ACME).policy().artifactMaxAgeDays()).as("follows the tier").isEqualTo(90);
    }

    @Test
    void aTenantReadsItsOwnPolicyOnlyTheAdminSetsItAndBadValuesAreNamed() throws IOException {
        storage.tenants().put(ADMIN, ACME, Tier.FREE, null);
        storage.tenants().put(ADMIN, GLOBEX, Tier.FREE, null);
        Principal acme = new Principal.Tenant(ACME, "t1");

        assertThat(storage.retention().policy(acme, ACME).policy().artifactMaxAgeDays()).isEqualTo(30);
        assertThatThrownBy(() -> storage.retention().policy(acme, GLOBEX)).isInstanceOf(ForbiddenException.class);
        assertThatThrownBy(() -> storage.retention().dryRun(acme, GLOBEX)).isInstanceOf(ForbiddenException.class);
        assertThatThrownBy(() -> storage.retention().setPolicy(acme, ACME, overrides("{}"))).isInstanceOf(ForbiddenException.class);
        assertThatThrownBy(() -> storage.retention().run(acme, ACME)).isInstanceOf(ForbiddenException.class);
        assertThatThrownBy(() -> overrides("{\"artifact_max_age_days\":0}"))
                .isInstanceOf(InvalidInputException.class).hasMessageContaining("artifact_max_age_days", "1 to 36500");
        assertThatThrownBy(() -> overrides("{\"keep_last_successful\":2.5}")).hasMessageContaining("keep_last_successful");
        assertThatThrownBy(() -> overrides("{\"keep_last\":2}")).hasMessageContaining("unknown field 'keep_last'");
        assertThatThrownBy(() -> overrides("[1]")).hasMessageContaining("JSON object");
        assertThatThrownBy(() -> storage.retention().setPolicy(ADMIN, TenantId.of("nobody"), overrides("{}")))
                .isInstanceOf(NotFoundException.class);

        storage.retention().setPolicy(ADMIN, ACME, overrides("{\"keep_last_successful\":9}"));
        Path file = dataRoot.resolve("config/retention-policies/acme.json");
        assertThat(Files.getPosixFilePermissions(file)).isEqualTo(java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        Files.writeString(file, "{\"log_max_age_days\": 2}");
        assertThat(storage.retention().policy(acme, ACME).overrides().toJson())
                .as("the file is the truth").isEqualTo(java.util.Map.of("log_max_age_days", 2));
        Files.writeString(file, "{\"log_max_age_days\": -1}");
        assertThatThrownBy(() -> storage.retention().dryRun(ADMIN, ACME))
                .hasMessageContaining("config/retention-policies/acme.json", "log_max_age_days");

        storage.tenants().purge(ADMIN, ACME);
        assertThat(file).as("a purge takes the policy with it").doesNotExist();
    }

    @Test
    void aBrokenPolicyFileStopsOnlyItsTenantsRetention() throws IOException {
        storage.tenants().put(ADMIN, ACME, Tier.PRO, null);
        storage.tenants().put(ADMIN, GLOBEX, Tier.PRO, null);
        storage.retention().setPolicy(ADMIN, ACME, overrides("{\"keep_last_successful\":0}"));
        storage.retention().setPolicy(ADMIN, GLOBEX, overrides("{\"keep_last_successful\":0}"));
        BuildRef acmeBuild = finished(ACME, "old", BuildStatus.SUCCEEDED, 10, 1);
        BuildRef globexBuild = finished(GLOBEX, "old", BuildStatus.SUCCEEDED, 10, 1);
        Files.writeString(dataRoot.resolve("config/retention-policies/acme.json"), "{not json");
        clock.advance(Duration.ofDays(31));

        storage.retention().runAll();

        assertThat(storage.builds().get(ADMIN, acmeBuild)).as("never the defaults in place of a broken file").isNotNull();
        assertThatThrownBy(() -> storage.builds().get(ADMIN, globexBuild)).isInstanceOf(NotFoundException.class);
    }

    @Test
    void orphansGoAfterTheirGracePeriodAndNeverABuildTheMetadataKnowsOrAnotherTenantsFiles() throws IOException {
        storage.tenants().put(ADMIN, ACME, Tier.PRO, null);
        storage.tenants().put(ADMIN, GLOBEX, Tier.PRO, null);
        BuildRef active = storage.builds().create(ADMIN, ACME, Optional.of(BuildId.of("active")), null).build().ref();
        BuildRef kept = finished(ACME, "kept", BuildStatus.SUCCEEDED, 100, 10);
        BuildRef lost = finished(ACME, "lost", BuildStatus.SUCCEEDED, 300, 10);
        BuildRef globex = finished(GLOBEX, "other", BuildStatus.SUCCEEDED, 50, 5);
        Path ghost = layout.buildDirectory(dataRoot, new BuildRef(ACME, BuildId.of("ghost")));
        Files.createDirectories(ghost.resolve("rootfs"));
        Files.writeString(ghost.resolve("rootfs/filesystem.ext4"), "left by a crash");
        Files.writeString(layout.buildPaths(active).workspace().resolve("main.c"), "source");
        // Every directory looks as old as the clock says: the known ones must survive on knowledge, not on age.
        for (BuildRef ref : List.of(active, kept, lost, globex, new BuildRef(ACME, BuildId.of("ghost")))) {
            Files.setLastModifiedTime(layout.buildDirectory(dataRoot, ref), FileTime.from(clock.instant()));
        }
        Files.delete(dataRoot.resolve(layout.artifactKey(lost, FileName.of("rootfs.ext4")).value()));
        long artifactsBefore = ledger(ACME, Category.ARTIFACTS);

        assertThat(storage.orphans().sweepAll()).as("within the grace period").isEmpty();
        assertThat(ghost).exists();

        clock.advance(GRACE.plusSeconds(1));
        List<JanitorDeletion> swept = storage.orphans().sweepAll();

        assertThat(swept).extracting(JanitorDeletion::build, JanitorDeletion::kind, JanitorDeletion::item).containsExactlyInAnyOrder(
                org.assertj.core.groups.Tuple.tuple(new BuildRef(ACME, BuildId.of("ghost")), Kind.ORPHAN_BUILD, ""),
                org.assertj.core.groups.Tuple.tuple(lost, Kind.MISSING_ARTIFACT, "rootfs.ext4"));
        assertThat(ghost).doesNotExist();
        assertThat(layout.buildPaths(active).workspace().resolve("main.c")).exists();
        assertThat(storage.artifacts().list(ADMIN, kept)).hasSize(1);
        assertThat(storage.artifacts().list(ADMIN, globex)).hasSize(1);
        assertThat(storage.artifacts().list(ADMIN, lost)).as("the row whose file is gone").isEmpty();
        assertThat(dataRoot.resolve(layout.rootfsKey(lost, ArtifactService.MANIFEST).value())).content()
                .as("the manifest no longer lists it").doesNotContain("rootfs.ext4");
        assertThat(ledger(ACME, Category.ARTIFACTS)).as("its bytes given back").isEqualTo(artifactsBefore - 300);
        assertThat(storage.retention().deletions(ADMIN, ACME, 10)).extracting(JanitorDeletion::kind)
                .containsExactlyInAnyOrder(Kind.ORPHAN_BUILD, Kind.MISSING_ARTIFACT);
        assertThat(storage.retention().deletions(ADMIN, GLOBEX, 10)).isEmpty();
        assertThat(storage.orphans().sweepAll()).as("nothing twice").isEmpty();
    }
}
