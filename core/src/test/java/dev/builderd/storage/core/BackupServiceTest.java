package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.core.error.ConflictException;
import dev.builderd.storage.core.error.UnavailableException;
import dev.builderd.storage.core.metadata.BackupRows;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.QuotaRows;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.BuildStatus;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.JanitorDeletion;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import dev.builderd.storage.core.quota.Category;
import dev.builderd.storage.testing.ForwardingBlobStore;
import dev.builderd.storage.testing.MovableClock;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Backups into a directory target, and restores from them, through the embedded storage. */
class BackupServiceTest {

    private static final Principal ADMIN = new Principal.Admin();
    private static final TenantId ACME = TenantId.of("acme");
    private static final TenantId GLOBEX = TenantId.of("globex");
    private static final FileName IMAGE = FileName.of("rootfs.img");
    private static final FileName MANIFEST = FileName.of("notes.txt");

    @TempDir
    Path dataRoot;
    @TempDir
    Path backupRoot;
    /** The same database across a restart within a test. */
    private MetadataLocation location;
    private MetadataStore metadata;
    private BuilderdStorage storage;
    private BackupService backups;
    private final List<AutoCloseable> opened = new ArrayList<>();

    /** When set, reads of the backup target wait for it: a restore or backup held half-way. */
    private volatile CountDownLatch targetReads;
    private final CountDownLatch targetReadWaiting = new CountDownLatch(1);

    private void open(Clock clock) throws IOException {
        if (location == null) {
            location = metadataLocation();
        }
        metadata = MetadataStore.open(location);
        storage = new BuilderdStorage(CoreConfig.defaults(Layout.under(dataRoot)), metadata, Stores.single(new FileBlobStore(dataRoot)),
                "admin-token-for-tests", clock);
        backups = storage.enableBackups(new ForwardingBlobStore(new FileBlobStore(backupRoot)) {
            @Override
            public InputStream open(BlobKey key, ByteRange range) throws IOException {
                CountDownLatch gate = targetReads;
                if (gate != null && key.value().startsWith("data/")) {
                    targetReadWaiting.countDown();
                    try {
                        gate.await(60, TimeUnit.SECONDS);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                return super.open(key, range);
            }
        }, BackupService.Retention.DEFAULTS);
    }

    /** Where the metadata lives: SQLite here, PostgreSQL in a subclass. */
    MetadataLocation metadataLocation() {
        return MetadataLocation.sqlite(dataRoot.resolve("metadata/builderd.db"));
    }

    private void open() throws IOException {
        open(Clock.systemUTC());
    }

    @AfterEach
    void close() throws Exception {
        if (storage != null) {
            storage.close();
            metadata.close();
        }
    }

    private BuildRef build(TenantId tenant, String id, Map<FileName, String> artifacts) {
        BuildRef ref = new BuildRef(tenant, BuildId.of(id));
        storage.builds().create(ADMIN, tenant, Optional.of(ref.build()), null);
        artifacts.forEach((name, content) -> {
            byte[] bytes = content.getBytes(StandardCharsets.UTF_8);
            storage.artifacts().upload(ADMIN, ref, name, new ByteArrayInputStream(bytes), bytes.length, null);
        });
        byte[] log = ("log of " + id).getBytes(StandardCharsets.UTF_8);
        storage.logs().put(ADMIN, ref, FileName.of("build.log"), new ByteArrayInputStream(log), log.length);
        storage.builds().complete(ADMIN, ref, BuildStatus.SUCCEEDED);
        return ref;
    }

    private String artifact(BuildRef ref, FileName name) throws IOException {
        try (InputStream in = storage.artifacts().describe(ADMIN, ref, name).open(ByteRange.ALL)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private void cacheEntry(TenantId tenant, String key, String content) {
        byte[] bytes = content.getBytes(StandardCharsets.UTF_8);
        storage.caches().put(ADMIN, tenant, CacheService.CacheType.DEPENDENCIES, key, new ByteArrayInputStream(bytes), bytes.length);
    }

    private String cacheEntry(TenantId tenant, String key) throws IOException {
        try (InputStream in = storage.caches().open(ADMIN, tenant, CacheService.CacheType.DEPENDENCIES, key, ByteRange.ALL).content()) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private BackupRows.Run ended(BackupRows.Run started) {
        await().atMost(Duration.ofSeconds(60)).until(() -> !backups.run(ADMIN, started.runId()).state().equals(BackupRows.RUNNING));
        return backups.run(ADMIN, started.runId());
    }

    private BackupRows.Run finished(BackupRows.Run started) {
        BackupRows.Run run = ended(started);
        assertThat(run.state()).as("job %s: %s", run.runId(), run.result().orElse("")).isEqualTo(BackupRows.FINISHED);
        return run;
    }

    private BackupService.Snapshot backUp(TenantId tenant) {
        finished(backups.startBackup(ADMIN, Optional.of(tenant)));
        return backups.snapshots(ADMIN, Optional.of(tenant)).getLast();
    }

    private List<Path> contentFiles() throws IOException {
        Path data = backupRoot.resolve("data");
        if (!Files.exists(data)) {
            return List.of();
        }
        try (Stream<Path> files = Files.walk(data)) {
            return files.filter(Files::isRegularFile).sorted().toList();
        }
    }

    private BackupRows.Run restore(BackupService.RestoreRequest request) {
        return finished(backups.startRestore(ADMIN, request));
    }

    private static BackupService.RestoreRequest wholeTenant(TenantId tenant, String snapshot) {
        return new BackupService.RestoreRequest(tenant, Optional.of(snapshot), Optional.empty(), Optional.empty(), Optional.empty(),
                Optional.empty());
    }

    @Test
    void aSecondBackupOfAnUnchangedTenantCopiesNothingButItsManifest() throws IOException {
        open();
        storage.tenants().put(ADMIN, ACME, Tier.PRO, false);
        build(ACME, "b1", Map.of(IMAGE, "image one", MANIFEST, "notes"));
        cacheEntry(ACME, "npm/left-pad-1.0.tgz", "left-pad");

        BackupService.Snapshot first = backUp(ACME);
        List<Path> contentAfterFirst = contentFiles();
        BackupService.Snapshot second = backUp(ACME);

        // two artifacts, one log, one cache entry
        assertThat(first.objects()).isEqualTo(4);
        assertThat(first.copiedObjects()).isEqualTo(4);
        assertThat(second.objects()).isEqualTo(4);
        assertThat(second.copiedObjects()).isZero();
        assertThat(second.copiedBytes()).isZero();
        assertThat(contentFiles()).isEqualTo(contentAfterFirst);
        assertThat(backups.snapshots(ADMIN, Optional.of(ACME))).extracting(BackupService.Snapshot::id)
                .containsExactly(first.id(), second.id());
    }

    @Test
    void aFinishedBuildUnchangedSinceThePreviousSnapshotIsTakenFromItWithoutReadingTheStore() throws IOException {
        open();
        storage.tenants().put(ADMIN, ACME, Tier.PRO, false);
        build(ACME, "b1", Map.of(IMAGE, "image one"));
        backUp(ACME);
        // Behind the service's back, so that only a read of the store could notice.
        Files.delete(dataRoot.resolve("tenants/acme/builds/b1/rootfs/rootfs.img"));

        BackupService.Snapshot second = backUp(ACME);

        assertThat(second.skipped()).isEmpty();
        assertThat(second.objects()).as("the image and the log").isEqualTo(2);
        assertThat(second.copiedObjects()).isZero();
    }

    @Test
    void logsTheJanitorDeletedSinceThePreviousSnapshotAreNotTakenFromIt() throws IOException {
        MovableClock clock = new MovableClock();
        open(clock);
        storage.tenants().put(ADMIN, ACME, Tier.PRO, false);
        build(ACME, "b1", Map.of(IMAGE, "image one"));
        backUp(ACME);
        storage.retention().setPolicy(ADMIN, ACME, new RetentionPolicy.Overrides(Map.of(
                RetentionPolicy.Field.LOG_MAX_AGE_DAYS, 1, RetentionPolicy.Field.KEEP_LAST_SUCCESSFUL, 0)));
        clock.advance(Duration.ofDays(2));
        assertThat(storage.retention().run(ADMIN, ACME).deleted()).extracting(JanitorDeletion::kind)
                .containsExactly(JanitorDeletion.Kind.LOGS);

        BackupService.Snapshot second = backUp(ACME);

        assertThat(second.objects()).as("the image only").isEqualTo(1);
    }

    @Test
    void anIncrementalBackupCopiesOnlyWhatChangedAndEqualContentIsStoredOnce() throws IOException {
        open();
        storage.tenants().put(ADMIN, ACME, Tier.PRO, false);
        build(ACME, "b1", Map.of(IMAGE, "image one"));
        backUp(ACME);

        build(ACME, "b2", Map.of(IMAGE, "image one", MANIFEST, "new notes"));
        BackupService.Snapshot second = backUp(ACME);

        assertThat(second.objects()).as("b1: image and log; b2: image, notes and log").isEqualTo(5);
        // b2's copy of "image one" is read (a new object) but its content was there already: only the notes and b2's log are new
        assertThat(second.copiedObjects()).isEqualTo(2);
        assertThat(second.copiedBytes()).isEqualTo("new notes".length() + "log of b2".length());
        assertThat(contentFiles()).hasSize(4);
    }

    @Test
    void anArtifactWhoseStoredBytesNoLongerMatchItsRowIsLeftOutAndNamed() throws IOException {
        open();
        storage.tenants().put(ADMIN, ACME, Tier.PRO, false);
        build(ACME, "b1", Map.of(IMAGE, "image one", MANIFEST, "notes"));
        try (RandomAccessFile file = new RandomAccessFile(dataRoot.resolve("tenants/acme/builds/b1/rootfs/rootfs.img").toFile(), "rw")) {
            file.seek(0);
            file.write('X');
        }

        BackupService.Snapshot snapshot = backUp(ACME);

        assertThat(snapshot.skipped()).singleElement().asString().contains("tenants/acme/builds/b1/rootfs/rootfs.img")
                .contains("do not match its recorded SHA-256");
        assertThat(snapshot.objects()).as("the notes and the log").isEqualTo(2);
        for (Path file : contentFiles()) {
            assertThat(Files.readString(file)).doesNotContain("Xmage");
        }
    }

    @Test
    void theIntegrityScrubRepairsADamagedEncryptedArtifactFromTheNewestBackup() throws IOException {
        open();
        storage.tenants().put(ADMIN, ACME, Tier.ENTERPRISE, null);
        String image = "an encrypted image ".repeat(100);
        BuildRef b1 = build(ACME, "b1", Map.of(IMAGE, image));
        backUp(ACME);
        try (RandomAccessFile file = new RandomAccessFile(dataRoot.resolve("tenants/acme/builds/b1/rootfs/rootfs.img").toFile(), "rw")) {
            file.seek(500);
            int original = file.read();
            file.seek(500);
            file.write(original ^ 0xff);
        }

        IntegrityScrub.Status pass = storage.scrub().runPassIfIdle();

        assertThat(pass.repaired()).as("%s", pass).isEqualTo(1);
        assertThat(pass.corruptFound()).isZero();
        assertThat(artifact(b1, IMAGE)).isEqualTo(image);
    }

    @Test
    void aWholeTenantReturnsToItsSnapshotWhileOtherTenantsAreUntouched() throws IOException {
        open();
        storage.tenants().put(ADMIN, ACME, Tier.PRO, false);
        storage.tenants().put(ADMIN, GLOBEX, Tier.PRO, false);
        BuildRef b1 = build(ACME, "b1", Map.of(IMAGE, "image one", MANIFEST, "notes"));
        cacheEntry(ACME, "npm/dep.tgz", "dependency v1");
        BuildRef globexBuild = build(GLOBEX, "g1", Map.of(IMAGE, "globex image"));
        BackupService.Snapshot snapshot = backUp(ACME);

        storage.builds().delete(ADMIN, b1);
        BuildRef b2 = build(ACME, "b2", Map.of(IMAGE, "image two"));
        cacheEntry(ACME, "npm/dep.tgz", "dependency v2");
        BackupRows.Run run = restore(wholeTenant(ACME, snapshot.id()));

        assertThat(artifact(b1, IMAGE)).isEqualTo("image one");
        assertThat(artifact(b1, MANIFEST)).isEqualTo("notes");
        assertThat(storage.builds().get(ADMIN, b1).build().status()).isEqualTo(BuildStatus.SUCCEEDED);
        assertThat(storage.builds().list(ADMIN, ACME)).extracting(view -> view.build().ref()).containsExactly(b1);
        assertThat(Files.exists(dataRoot.resolve("tenants/acme/builds/b2"))).as("the newer build's files").isFalse();
        assertThat(cacheEntry(ACME, "npm/dep.tgz")).isEqualTo("dependency v1");
        assertThat(Files.readString(dataRoot.resolve("tenants/acme/builds/b1/rootfs/checksums.sha256")))
                .contains("  rootfs.img").contains("  notes.txt");
        assertThat(run.result().orElseThrow()).contains("\"builds_removed\":1");
        // the ledger agrees with what is stored
        long artifactBytes = "image one".length() + "notes".length();
        assertThat(metadata.read(h -> QuotaRows.ledger(h, ACME)).get(Category.ARTIFACTS).used()).isEqualTo(artifactBytes);
        assertThat(artifact(globexBuild, IMAGE)).isEqualTo("globex image");
        assertThat(b2).isNotNull();
    }

    @Test
    void oneBuildIsRestoredIntoAnotherTenantForInspection() throws IOException {
        open();
        storage.tenants().put(ADMIN, ACME, Tier.ENTERPRISE, null);
        BuildRef b1 = build(ACME, "b1", Map.of(IMAGE, "secret image"));
        build(ACME, "b2", Map.of(IMAGE, "other image"));
        BackupService.Snapshot snapshot = backUp(ACME);
        storage.builds().delete(ADMIN, b1);

        TenantId inspect = TenantId.of("acme-inspect");
        restore(new BackupService.RestoreRequest(ACME, Optional.empty(), Optional.of(snapshot.takenAt()), Optional.of(b1.build()),
                Optional.empty(), Optional.of(inspect)));

        BuildRef restored = new BuildRef(inspect, b1.build());
        assertThat(artifact(restored, IMAGE)).isEqualTo("secret image");
        assertThat(storage.tenants().get(ADMIN, inspect).encryption()).isTrue();
        assertThat(storage.builds().list(ADMIN, inspect)).hasSize(1);
        assertThat(storage.builds().list(ADMIN, ACME)).as("the source tenant is not touched").hasSize(1);
    }

    @Test
    void oneArtifactIsRestoredIntoItsBuild() throws IOException {
        open();
        storage.tenants().put(ADMIN, ACME, Tier.PRO, false);
        BuildRef b1 = build(ACME, "b1", Map.of(IMAGE, "image one", MANIFEST, "notes"));
        BackupService.Snapshot snapshot = backUp(ACME);
        Files.delete(dataRoot.resolve("tenants/acme/builds/b1/rootfs/rootfs.img"));

        restore(new BackupService.RestoreRequest(ACME, Optional.of(snapshot.id()), Optional.empty(), Optional.of(b1.build()),
                Optional.of(IMAGE), Optional.empty()));

        assertThat(artifact(b1, IMAGE)).isEqualTo("image one");
        assertThat(artifact(b1, MANIFEST)).isEqualTo("notes");
    }

    @Test
    void encryptedBackupsHoldCiphertextSurviveKeyRetirementAndDieWithTheTenantsPurge() throws IOException {
        open();
        storage.tenants().put(ADMIN, ACME, Tier.ENTERPRISE, null);
        String secret = "the plaintext that must never reach the backup";
        BuildRef b1 = build(ACME, "b1", Map.of(IMAGE, secret));
        BackupService.Snapshot snapshot = backUp(ACME);

        for (Path file : contentFiles()) {
            assertThat(new String(Files.readAllBytes(file), StandardCharsets.ISO_8859_1)).doesNotContain("plaintext");
        }
        assertThat(backupRoot.resolve("keysets/acme.key")).exists();

        // The key that encrypted the snapshot is retired from the live keyset: the archived one still has it.
        storage.encryption().rotate(ADMIN, ACME, true);
        await().atMost(Duration.ofSeconds(60)).until(() -> storage.encryption().status(ADMIN, ACME).keys().orElseThrow().keys() == 1);
        storage.builds().delete(ADMIN, b1);
        restore(wholeTenant(ACME, snapshot.id()));
        assertThat(artifact(b1, IMAGE)).isEqualTo(secret);

        storage.tenants().purge(ADMIN, ACME);
        assertThat(backupRoot.resolve("keysets/acme.key")).as("shredded with the tenant").doesNotExist();
        BackupRows.Run failed = ended(backups.startRestore(ADMIN, wholeTenant(ACME, snapshot.id())));
        assertThat(failed.state()).isEqualTo(BackupRows.FAILED);
        assertThat(failed.result().orElseThrow()).contains("no keyset is archived");
        BackupRows.Run verify = ended(backups.startVerify(ADMIN, Optional.of(ACME), Optional.empty()));
        assertThat(verify.result().orElseThrow()).contains("keyset is not archived");
    }

    @Test
    void encryptedBackupsStayReadableAfterTheMasterKeyIsRotatedAndTheOlderOneRemoved() throws IOException {
        open();
        storage.tenants().put(ADMIN, ACME, Tier.ENTERPRISE, null);
        BuildRef b1 = build(ACME, "b1", Map.of(IMAGE, "image under the old master key"));
        BackupService.Snapshot snapshot = backUp(ACME);

        assertThat(storage.encryption().rotateMaster(ADMIN).olderKeysRemoved()).isTrue();
        storage.builds().delete(ADMIN, b1);
        restore(wholeTenant(ACME, snapshot.id()));

        assertThat(artifact(b1, IMAGE)).isEqualTo("image under the old master key");
    }

    @Test
    void aMasterKeyRotationInterruptedByACrashIsFinishedOnlyOnceTheBackupsKeysetsAreRewrapped() throws Exception {
        open();
        storage.tenants().put(ADMIN, ACME, Tier.ENTERPRISE, null);
        BuildRef b1 = build(ACME, "b1", Map.of(IMAGE, "image under the old master key"));
        BackupService.Snapshot snapshot = backUp(ACME);
        // The rotation's first step, then the process dies.
        dev.builderd.storage.core.crypto.MasterKeyFile.openOrCreate(dataRoot.resolve("config/encryption-keys/master.key"), false)
                .addPrimaryKey();
        close();

        open();

        assertThat(((dev.builderd.storage.core.crypto.MasterKey.Rotatable) dev.builderd.storage.core.crypto.MasterKeyFile.openOrCreate(
                dataRoot.resolve("config/encryption-keys/master.key"), false)).keyCount()).as("the rotation finished").isEqualTo(1);
        storage.builds().delete(ADMIN, b1);
        restore(wholeTenant(ACME, snapshot.id()));
        assertThat(artifact(b1, IMAGE)).isEqualTo("image under the old master key");
    }

    @Test
    void verifyNamesTheObjectWhoseContentWasDamaged() throws IOException {
        open();
        storage.tenants().put(ADMIN, ACME, Tier.PRO, false);
        build(ACME, "b1", Map.of(IMAGE, "image one", MANIFEST, "notes"));
        backUp(ACME);
        assertThat(finished(backups.startVerify(ADMIN, Optional.empty(), Optional.empty())).result().orElseThrow())
                .contains("\"problems\":[]");

        Path damaged = contentFiles().stream().filter(file -> {
            try {
                return Files.readString(file).equals("image one");
            } catch (IOException e) {
                return false;
            }
        }).findFirst().orElseThrow();
        try (RandomAccessFile file = new RandomAccessFile(damaged.toFile(), "rw")) {
            file.seek(3);
            file.write('X');
        }
        BackupRows.Run verify = ended(backups.startVerify(ADMIN, Optional.of(ACME), Optional.empty()));

        assertThat(verify.state()).isEqualTo(BackupRows.FAILED);
        assertThat(verify.result().orElseThrow()).contains("tenants/acme/builds/b1/rootfs/rootfs.img")
                .contains("data/" + damaged.getParent().getFileName() + "/" + damaged.getFileName()).contains("damaged")
                .doesNotContain("notes.txt");
    }

    @Test
    void aRestoreFencesItsTenantOnlyAndOnlyWhileItRuns() throws Exception {
        open();
        storage.tenants().put(ADMIN, ACME, Tier.PRO, false);
        storage.tenants().put(ADMIN, GLOBEX, Tier.PRO, false);
        build(ACME, "b1", Map.of(IMAGE, "image one"));
        BackupService.Snapshot snapshot = backUp(ACME);

        targetReads = new CountDownLatch(1);
        BackupRows.Run restoring = backups.startRestore(ADMIN, wholeTenant(ACME, snapshot.id()));
        assertThat(targetReadWaiting.await(60, TimeUnit.SECONDS)).isTrue();
        assertThatThrownBy(() -> storage.builds().create(ADMIN, ACME, Optional.empty(), null))
                .isInstanceOf(UnavailableException.class).hasMessageContaining("restored from backup snapshot acme/" + snapshot.id());
        assertThatThrownBy(() -> cacheEntry(ACME, "npm/x.tgz", "x")).isInstanceOf(UnavailableException.class);
        assertThatThrownBy(() -> backups.startPrune(ADMIN, BackupService.Retention.DEFAULTS)).isInstanceOf(ConflictException.class)
                .hasMessageContaining("one at a time");
        build(GLOBEX, "g1", Map.of(IMAGE, "globex works meanwhile"));
        targetReads.countDown();
        targetReads = null;
        finished(restoring);

        build(ACME, "b2", Map.of(IMAGE, "writes work again"));
    }

    @Test
    void pruneKeepsWhatThePolicySaysAndDeletesContentNoSnapshotUses() throws IOException {
        MovableClock clock = new MovableClock();
        open(clock);
        storage.tenants().put(ADMIN, ACME, Tier.PRO, false);
        BuildRef old = build(ACME, "old", Map.of(IMAGE, "only in old snapshots"));
        BackupService.Snapshot dayOne = backUp(ACME);
        clock.advance(Duration.ofHours(1));
        BackupService.Snapshot dayOneLater = backUp(ACME);
        storage.builds().delete(ADMIN, old);
        build(ACME, "new", Map.of(IMAGE, "in the newest"));
        clock.advance(Duration.ofDays(3));
        BackupService.Snapshot dayFour = backUp(ACME);
        clock.advance(Duration.ofDays(1));

        BackupRows.Run prune = finished(backups.startPrune(ADMIN, new BackupService.Retention(1, 2, 0, 0)));

        // keep_last keeps day four's; two daily windows (today and yesterday) hold no other: days one's go
        assertThat(backups.snapshots(ADMIN, Optional.of(ACME))).extracting(BackupService.Snapshot::id).containsExactly(dayFour.id());
        assertThat(prune.result().orElseThrow()).contains(dayOne.id()).contains(dayOneLater.id());
        List<String> remaining = new ArrayList<>();
        for (Path file : contentFiles()) {
            remaining.add(Files.readString(file));
        }
        assertThat(remaining).containsExactlyInAnyOrder("in the newest", "log of new");
        assertThat(finished(backups.startVerify(ADMIN, Optional.empty(), Optional.empty())).result().orElseThrow())
                .contains("\"problems\":[]");
    }

    @Test
    void aPruneWaitsForARunningBackupSoItNeverDeletesWhatTheBackupReuses() throws Exception {
        open();
        storage.tenants().put(ADMIN, ACME, Tier.PRO, false);
        build(ACME, "b1", Map.of(IMAGE, "image one"));
        backUp(ACME);
        long before = contentFiles().size();

        // The restore holds the one job slot, as a long backup would.
        targetReads = new CountDownLatch(1);
        BackupRows.Run restoring = backups.startRestore(ADMIN, wholeTenant(ACME, backups.snapshots(ADMIN, Optional.of(ACME)).getLast().id()));
        assertThat(targetReadWaiting.await(60, TimeUnit.SECONDS)).isTrue();
        assertThatThrownBy(() -> backups.startBackup(ADMIN, Optional.empty())).isInstanceOf(ConflictException.class);
        targetReads.countDown();
        targetReads = null;
        finished(restoring);

        finished(backups.startPrune(ADMIN, BackupService.Retention.DEFAULTS));
        assertThat(contentFiles()).hasSize((int) before);
    }

    @Test
    void aJobLeftRunningByAStoppedProcessIsFailedByTheNextOne() throws IOException {
        open();
        storage.tenants().put(ADMIN, ACME, Tier.PRO, false);
        String thisNode = finished(backups.startBackup(ADMIN, Optional.of(ACME))).node();
        // as a process of this node killed half-way through a backup leaves it
        metadata.inTransaction(h -> {
            BackupRows.start(h, "backup-stale", "backup", "all tenants", thisNode, java.time.Instant.now());
            return null;
        });

        backUp(ACME);

        assertThat(backups.run(ADMIN, "backup-stale").state()).isEqualTo(BackupRows.FAILED);
        assertThat(backups.run(ADMIN, "backup-stale").result().orElseThrow()).contains("stopped before it ended");
    }
}
