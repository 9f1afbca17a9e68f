package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.cronutils.model.CronType;
import com.cronutils.model.definition.CronDefinitionBuilder;
import com.cronutils.parser.CronParser;
import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.core.BackupService;
import dev.builderd.storage.core.BuilderdStorage;
import dev.builderd.storage.core.CoreConfig;
import dev.builderd.storage.core.Layout;
import dev.builderd.storage.core.Stores;
import dev.builderd.storage.core.metadata.BackupRows;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code UNKEY_BUILDERD_BACKUP_SCHEDULE}: at the time its cron expression names, every tenant is backed up, then pruned. */
class BackupScheduleTest {

    private static final Principal ADMIN = new Principal.Admin();

    @TempDir
    Path dataRoot;
    @TempDir
    Path backupRoot;
    private MetadataStore metadata;
    private BuilderdStorage storage;
    private BackupSchedule schedule;

    @AfterEach
    void close() {
        if (schedule != null) {
            schedule.close();
        }
        storage.close();
        metadata.close();
    }

    @Test
    void atTheScheduledTimeEveryTenantIsBackedUpAndThenTheTargetPruned() throws IOException {
        metadata = MetadataStore.open(MetadataLocation.sqlite(dataRoot.resolve("metadata/builderd.db")));
        storage = new BuilderdStorage(CoreConfig.defaults(Layout.under(dataRoot)), metadata, Stores.single(new FileBlobStore(dataRoot)),
                "admin-token-for-tests", Clock.systemUTC());
        storage.tenants().put(ADMIN, TenantId.of("acme"), Tier.PRO, false);
        storage.tenants().put(ADMIN, TenantId.of("globex"), Tier.PRO, false);
        BackupService backups = storage.enableBackups(new FileBlobStore(backupRoot), BackupService.Retention.DEFAULTS);
        // A clock that reads 100 ms before 02:00 UTC now: the daily 02:00 run is due at once, the next one a day later.
        Instant now = Instant.now();
        Instant twoAm = now.truncatedTo(ChronoUnit.DAYS).plus(Duration.ofHours(2));
        Clock beforeTwo = Clock.offset(Clock.systemUTC(), Duration.between(now, twoAm.minusMillis(100)));

        schedule = new BackupSchedule(backups, new CronParser(CronDefinitionBuilder.instanceDefinitionFor(CronType.UNIX))
                .parse("0 2 * * *"), () -> storage.jobLeases().holds(dev.builderd.storage.core.JobLeases.Job.BACKUP_SCHEDULE), beforeTwo);
        schedule.start();

        await().atMost(Duration.ofSeconds(60)).until(() -> backups.runs(ADMIN, 10).stream()
                .anyMatch(run -> run.kind().equals("prune") && !run.state().equals(BackupRows.RUNNING)));
        List<BackupRows.Run> runs = backups.runs(ADMIN, 10);
        assertThat(runs).extracting(BackupRows.Run::kind, BackupRows.Run::state)
                .containsExactly(org.assertj.core.groups.Tuple.tuple("prune", BackupRows.FINISHED),
                        org.assertj.core.groups.Tuple.tuple("backup", BackupRows.FINISHED));
        assertThat(runs.getLast().scope()).isEqualTo("all tenants");
        assertThat(backups.snapshots(ADMIN, Optional.empty())).extracting(snapshot -> snapshot.tenant().value())
                .containsExactlyInAnyOrder("acme", "globex");
    }
}
