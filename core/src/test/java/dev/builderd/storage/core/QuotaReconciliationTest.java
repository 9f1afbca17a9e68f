package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.core.error.QuotaExceededException;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.QuotaRows;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import dev.builderd.storage.core.quota.Category;
import dev.builderd.storage.core.quota.HardLimitAction;
import dev.builderd.storage.core.quota.Limits;
import dev.builderd.storage.core.quota.Reservation;
import dev.builderd.storage.testing.MovableClock;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reconciliation heals what crashes leave in the ledger; throttling waits for space, bounded. */
class QuotaReconciliationTest {

    private static final Principal ADMIN = new Principal.Admin();
    private static final TenantId ACME = TenantId.of("acme");
    private static final BuildRef B1 = new BuildRef(ACME, BuildId.of("b1"));

    @TempDir
    Path dataRoot;
    private MetadataStore metadata;
    private FileBlobStore files;
    private BuilderdStorage storage;

    @BeforeEach
    void open() throws IOException {
        metadata = MetadataStore.open(MetadataLocation.sqlite(dataRoot.resolve("metadata/builderd.db")));
        files = new FileBlobStore(dataRoot);
        CoreConfig config = CoreConfig.defaults(Layout.under(dataRoot));
        storage = new BuilderdStorage(config.withQuotas(new dev.builderd.storage.core.quota.Quotas.Config(80, HardLimitAction.REJECT,
                Duration.ofSeconds(30), Duration.ofHours(6), Duration.ofSeconds(30), Duration.ofDays(1))), metadata, Stores.single(files),
                "admin-token-for-tests", new MovableClock());
        storage.tenants().put(ADMIN, ACME, Tier.PRO, null);
        storage.builds().create(ADMIN, ACME, Optional.of(B1.build()), null);
    }

    @AfterEach
    void close() {
        storage.close();
        metadata.close();
    }

    private QuotaRows.Line line(Category category) {
        return metadata.read(h -> QuotaRows.ledger(h, ACME)).get(category);
    }

    private QuotaReconciliation reconciliation() {
        return new QuotaReconciliation(metadata, storage.quotas(), Stores.single(files), Layout.under(dataRoot));
    }

    @Test
    void driftLeftByCrashesIsFoundReportedAndRepaired() throws IOException {
        storage.artifacts().upload(ADMIN, B1, FileName.of("a.img"), new ByteArrayInputStream(new byte[5000]), 5000, null);
        storage.logs().put(ADMIN, B1, FileName.of("build.log"), new ByteArrayInputStream(new byte[300]), 300);
        // A crash after a log landed but before its bytes were committed, and a ledger line that drifted.
        files.put(BlobKey.of("tenants/acme/builds/b1/logs/crashed.log"), new ByteArrayInputStream(new byte[700]), 700, WriteMode.CREATE_NEW);
        metadata.inTransaction(h -> {
            QuotaRows.add(h, ACME, Category.ARTIFACTS, 123, 0);
            return null;
        });

        List<QuotaReconciliation.Drift> drifts = reconciliation().reconcileAll();

        assertThat(drifts).containsExactlyInAnyOrder(
                new QuotaReconciliation.Drift(ACME, Category.ARTIFACTS, -123),
                new QuotaReconciliation.Drift(ACME, Category.LOGS, 700));
        assertThat(line(Category.ARTIFACTS).used()).isEqualTo(5000);
        assertThat(line(Category.LOGS).used()).isEqualTo(1000);
        assertThat(reconciliation().reconcileAll()).as("nothing left to repair").isEmpty();
    }

    @Test
    void aCategoryWithWritesInFlightIsLeftForTheNextRound() throws IOException {
        files.put(BlobKey.of("tenants/acme/builds/b1/logs/x.log"), new ByteArrayInputStream(new byte[10]), 10, WriteMode.CREATE_NEW);
        try (Reservation inFlight = storage.quotas().reserve(ACME, Category.LOGS, 50)) {
            assertThat(reconciliation().reconcile(ACME)).isEmpty();
            assertThat(line(Category.LOGS).used()).isZero();
        }
        assertThat(reconciliation().reconcile(ACME)).extracting(QuotaReconciliation.Drift::bytes).containsExactly(10L);
    }

    @Test
    void aCategoryThatChangedWhileItWasListedIsLeftForTheNextRound() throws IOException {
        CacheService.CacheType deps = CacheService.CacheType.DEPENDENCIES;
        storage.caches().put(ADMIN, ACME, deps, "npm/a.tgz", new ByteArrayInputStream(new byte[100]), 100);
        storage.caches().put(ADMIN, ACME, deps, "npm/b.tgz", new ByteArrayInputStream(new byte[100]), 100);
        // The listing sees both entries; one is evicted (file and ledger) before the listing is used.
        BlobStore listedThenChanged = (BlobStore) java.lang.reflect.Proxy.newProxyInstance(getClass().getClassLoader(),
                new Class<?>[] {BlobStore.class}, (proxy, method, args) -> {
                    Object answer;
                    try {
                        answer = method.invoke(files, args);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        throw e.getCause();
                    }
                    if (!method.getName().equals("list")) {
                        return answer;
                    }
                    List<BlobInfo> listed = new java.util.ArrayList<>();
                    ((java.util.Iterator<?>) answer).forEachRemaining(blob -> listed.add((BlobInfo) blob));
                    storage.caches().delete(ADMIN, ACME, deps, "npm/a.tgz");
                    return listed.iterator();
                });
        var reconciliation = new QuotaReconciliation(metadata, storage.quotas(),
                new Stores(files, files, listedThenChanged), Layout.under(dataRoot));

        assertThat(reconciliation.reconcile(ACME)).noneMatch(drift -> drift.category() == Category.CACHE);
        assertThat(line(Category.CACHE).used()).isEqualTo(100);
    }

    @Test
    void aThrottledWriteWaitsForSpaceAndGetsItWhenAnotherWriteEnds() {
        storage.quotas().setOverrides(ACME, new Limits.Overrides(OptionalLong.of(1000), OptionalLong.empty(), OptionalLong.empty(),
                Optional.empty(), Optional.empty(), Optional.of(HardLimitAction.THROTTLE)));
        Reservation holding = storage.quotas().reserve(ACME, Category.LOGS, 800);

        CompletableFuture<Reservation> waiting = CompletableFuture.supplyAsync(() -> storage.quotas().reserve(ACME, Category.LOGS, 500));
        await().atMost(Duration.ofSeconds(10)).until(() -> !waiting.isDone() && line(Category.LOGS).reserved() == 800);
        holding.close();

        Reservation granted = waiting.join();
        assertThat(line(Category.LOGS).reserved()).isEqualTo(500);
        granted.close();
    }

    @Test
    void aThrottledWriteIsRefusedWhenNoSpaceComesInTime() {
        storage.close();
        storage = null;
        try {
            storage = new BuilderdStorage(CoreConfig.defaults(Layout.under(dataRoot)).withQuotas(new dev.builderd.storage.core.quota.Quotas.Config(
                    80, HardLimitAction.THROTTLE, Duration.ofMillis(200), Duration.ofHours(6), Duration.ofSeconds(30), Duration.ofDays(1))),
                    metadata, Stores.single(files), "admin-token-for-tests", new MovableClock());
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        storage.quotas().setOverrides(ACME, new Limits.Overrides(OptionalLong.of(1000), OptionalLong.empty(), OptionalLong.empty(),
                Optional.empty(), Optional.empty(), Optional.empty()));
        try (Reservation holding = storage.quotas().reserve(ACME, Category.LOGS, 800)) {
            assertThatThrownBy(() -> storage.quotas().reserve(ACME, Category.LOGS, 500)).isInstanceOf(QuotaExceededException.class);
        }
    }
}
