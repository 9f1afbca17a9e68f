package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.core.CacheService.CacheType;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.error.QuotaExceededException;
import dev.builderd.storage.core.metadata.CacheRows;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import dev.builderd.storage.core.quota.Category;
import dev.builderd.storage.core.quota.HardLimitAction;
import dev.builderd.storage.core.quota.Limits;
import dev.builderd.storage.core.quota.Quotas;
import dev.builderd.storage.testing.MovableClock;
import dev.builderd.storage.testing.SeededBytes;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Cache eviction by policy over the persisted index, retention, and the quota's cleanup of the cache. */
class CacheEvictionTest {

    private static final Principal ADMIN = new Principal.Admin();
    private static final TenantId ACME = TenantId.of("acme");
    private static final int SIZE = 3_000;

    @TempDir
    Path dataRoot;
    private final MovableClock clock = new MovableClock();
    private MetadataStore metadata;
    private BuilderdStorage storage;
    private FileBlobStore files;

    @BeforeEach
    void open() throws IOException {
        metadata = MetadataStore.open(MetadataLocation.sqlite(dataRoot.resolve("metadata/builderd.db")));
    }

    private void start(CacheService.Policy policy, HardLimitAction action) throws IOException {
        if (storage != null) {
            storage.close();
        }
        CoreConfig config = CoreConfig.defaults(Layout.under(dataRoot)).withCachePolicy(policy)
                .withQuotas(new Quotas.Config(80, action, Duration.ofSeconds(5), Duration.ofHours(6), Duration.ofHours(1), Duration.ofDays(1)));
        storage = new BuilderdStorage(config, metadata, Stores.single(new FileBlobStore(dataRoot)), "admin-token-for-tests", clock);
        files = new FileBlobStore(dataRoot);
        storage.tenants().put(ADMIN, ACME, Tier.PRO, null);
        storage.quotas().setOverrides(ACME, new Limits.Overrides(OptionalLong.of(100_000), OptionalLong.empty(), OptionalLong.of(10_000),
                Optional.empty(), Optional.empty(), Optional.empty()));
    }

    @AfterEach
    void close() {
        storage.close();
        metadata.close();
    }

    private void put(String name, int seed) {
        byte[] content = SeededBytes.array(seed, SIZE);
        storage.caches().put(ADMIN, ACME, CacheType.DEPENDENCIES, "npm/" + name, new ByteArrayInputStream(content), SIZE);
        clock.advance(Duration.ofSeconds(1));
    }

    private boolean present(String name) {
        try (InputStream in = storage.caches().open(ADMIN, ACME, CacheType.DEPENDENCIES, "npm/" + name, ByteRange.ALL).content()) {
            in.readAllBytes();
            clock.advance(Duration.ofSeconds(1));
            return true;
        } catch (NotFoundException e) {
            return false;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private long cacheUsed() {
        return storage.quotas().usage(ACME).lines().get(Category.CACHE).used();
    }

    @Test
    void lruEvictsWhatWasReadLeastRecentlyToMakeRoomForAWrite() throws IOException {
        start(CacheService.Policy.DEFAULTS, HardLimitAction.REJECT);
        put("a", 1);
        put("b", 2);
        put("c", 3);
        assertThat(present("a")).isTrue();

        put("d", 4);

        assertThat(present("b")).as("least recently used").isFalse();
        assertThat(present("a")).isTrue();
        assertThat(present("c")).isTrue();
        assertThat(present("d")).isTrue();
        assertThat(cacheUsed()).isEqualTo(3L * SIZE);
    }

    @Test
    void fifoEvictsTheOldestWhateverWasRead() throws IOException {
        start(new CacheService.Policy(CacheRows.Order.FIFO, Duration.ZERO, Duration.ZERO, 0), HardLimitAction.REJECT);
        put("a", 1);
        put("b", 2);
        put("c", 3);
        assertThat(present("a")).isTrue();

        put("d", 4);

        assertThat(present("a")).as("oldest").isFalse();
        assertThat(present("b")).isTrue();
    }

    @Test
    void nothingYoungerThanTheMinimumRetentionIsEvictedTheWriteIsRefusedInstead() throws IOException {
        start(new CacheService.Policy(CacheRows.Order.LRU, Duration.ofHours(1), Duration.ZERO, 0), HardLimitAction.REJECT);
        put("a", 1);
        put("b", 2);
        put("c", 3);

        assertThatThrownBy(() -> put("d", 4)).isInstanceOf(QuotaExceededException.class).hasMessageContaining("cache quota");
        assertThat(present("a") && present("b") && present("c")).isTrue();

        clock.advance(Duration.ofHours(2));
        put("d", 4);
        assertThat(present("d")).isTrue();
    }

    @Test
    void entriesNotReadForTheMaximumRetentionExpire() throws IOException {
        start(new CacheService.Policy(CacheRows.Order.LRU, Duration.ZERO, Duration.ofDays(7), 0), HardLimitAction.REJECT);
        put("a", 1);
        put("b", 2);
        clock.advance(Duration.ofDays(6));
        assertThat(present("a")).isTrue();
        clock.advance(Duration.ofDays(2));

        assertThat(storage.caches().expire()).isEqualTo(1);

        assertThat(present("b")).isFalse();
        assertThat(present("a")).isTrue();
        assertThat(cacheUsed()).isEqualTo(SIZE);
    }

    @Test
    void theIndexSurvivesARestartWithoutARescan() throws IOException {
        start(CacheService.Policy.DEFAULTS, HardLimitAction.REJECT);
        put("a", 1);
        put("b", 2);
        put("c", 3);
        assertThat(present("a")).isTrue();

        start(CacheService.Policy.DEFAULTS, HardLimitAction.REJECT);
        put("d", 4);

        assertThat(present("b")).isFalse();
        assertThat(present("a")).isTrue();
    }

    @Test
    void entriesPinnedByAnActiveBuildAreNotEvictedUntilItEnds() throws IOException {
        start(CacheService.Policy.DEFAULTS, HardLimitAction.REJECT);
        BuildRef build = new BuildRef(ACME, BuildId.of("b1"));
        storage.builds().create(ADMIN, ACME, Optional.of(build.build()), null);
        put("a", 1);
        put("b", 2);
        put("c", 3);
        storage.caches().pin(ADMIN, build, CacheType.DEPENDENCIES, java.util.List.of("npm/a", "npm/b"));

        put("d", 4);
        assertThat(present("c")).as("the only unpinned candidate").isFalse();
        assertThat(present("a") && present("b")).isTrue();

        storage.builds().complete(ADMIN, build, dev.builderd.storage.core.model.BuildStatus.SUCCEEDED);
        assertThat(storage.caches().free(ACME, 3L * SIZE)).as("everything may go once the build ended").isEqualTo(3L * SIZE);
        assertThat(present("a") || present("b")).isFalse();
        assertThatThrownBy(() -> storage.caches().pin(ADMIN, build, CacheType.DEPENDENCIES, java.util.List.of("npm/d")))
                .isInstanceOf(dev.builderd.storage.core.error.ConflictException.class).hasMessageContaining("not active");
    }

    @Test
    void aReadUnderwayCompletesWhenItsEntryIsEvicted() throws IOException {
        start(CacheService.Policy.DEFAULTS, HardLimitAction.REJECT);
        put("a", 1);
        try (InputStream reading = storage.caches().open(ADMIN, ACME, CacheType.DEPENDENCIES, "npm/a", ByteRange.ALL).content()) {
            assertThat(storage.caches().free(ACME, 1)).isEqualTo(SIZE);

            assertThat(reading.readAllBytes()).as("whole, not truncated").isEqualTo(SeededBytes.array(1, SIZE));
        }
        assertThat(present("a")).isFalse();
    }

    @Test
    void aThrottledArtifactWriteHasTheCacheCleanedButNeverOtherArtifacts() throws IOException {
        start(CacheService.Policy.DEFAULTS, HardLimitAction.THROTTLE);
        storage.quotas().setOverrides(ACME, new Limits.Overrides(OptionalLong.of(12_000), OptionalLong.empty(), OptionalLong.of(10_000),
                Optional.empty(), Optional.empty(), Optional.of(HardLimitAction.THROTTLE)));
        BuildRef build = new BuildRef(ACME, BuildId.of("b1"));
        storage.builds().create(ADMIN, ACME, Optional.of(build.build()), null);
        storage.artifacts().upload(ADMIN, build, FileName.of("keep.img"), new ByteArrayInputStream(new byte[2_000]), 2_000, null);
        put("a", 1);
        put("b", 2);
        put("c", 3);

        storage.artifacts().upload(ADMIN, build, FileName.of("new.img"), new ByteArrayInputStream(new byte[4_000]), 4_000, null);

        assertThat(cacheUsed()).as("one cache entry went, just the room needed").isEqualTo(2L * SIZE);
        assertThat(storage.artifacts().describe(ADMIN, build, FileName.of("keep.img")).info().size()).isEqualTo(2_000);
    }

    private void putLayer(int seed) {
        byte[] content = SeededBytes.array(seed, SIZE);
        storage.caches().put(ADMIN, ACME, CacheType.DOCKER_LAYERS, layerKey(seed), new ByteArrayInputStream(content), SIZE);
        clock.advance(Duration.ofSeconds(1));
    }

    private static String layerKey(int seed) {
        return "sha256:" + SeededBytes.sha256(seed, SIZE);
    }

    private CacheService.TypeState state(CacheType type) {
        return storage.caches().types(ADMIN, ACME).stream().filter(s -> s.type() == type).findFirst().orElseThrow();
    }

    private static CacheRows.PolicyRow maxSize(long bytes, CacheRows.Order order, long minRetentionSeconds) {
        return new CacheRows.PolicyRow(Optional.of(bytes), Optional.of(order), Optional.of(minRetentionSeconds), Optional.empty());
    }

    @Test
    void aCacheTypePastItsMaximumSizeEvictsOnlyItsOwnEntriesInItsOwnOrder() throws IOException {
        start(CacheService.Policy.DEFAULTS, HardLimitAction.REJECT);
        storage.caches().setPolicy(ADMIN, ACME, CacheType.DOCKER_LAYERS, maxSize(2L * SIZE, CacheRows.Order.FIFO, 0));
        put("a", 1);
        putLayer(10);
        putLayer(11);
        storage.caches().open(ADMIN, ACME, CacheType.DOCKER_LAYERS, layerKey(10), ByteRange.ALL).content().close();

        putLayer(12);

        assertThat(state(CacheType.DOCKER_LAYERS).usage()).isEqualTo(new CacheRows.TypeUsage(2L * SIZE, 2));
        assertThatThrownBy(() -> storage.caches().open(ADMIN, ACME, CacheType.DOCKER_LAYERS, layerKey(10), ByteRange.ALL))
                .as("fifo: the oldest layer went although it was read last").isInstanceOf(NotFoundException.class);
        assertThat(present("a")).as("another type is not touched").isTrue();
        assertThat(state(CacheType.DEPENDENCIES).policy()).as("the daemon's defaults").isEqualTo(CacheService.Policy.DEFAULTS);
        assertThat(state(CacheType.DOCKER_LAYERS).policy().order()).isEqualTo(CacheRows.Order.FIFO);
    }

    @Test
    void aWriteOverTheTypesMaximumSizeIsRefusedWhenItsEntriesAreTooYoungToGo() throws IOException {
        start(CacheService.Policy.DEFAULTS, HardLimitAction.REJECT);
        storage.caches().setPolicy(ADMIN, ACME, CacheType.DOCKER_LAYERS, maxSize(2L * SIZE, CacheRows.Order.LRU, 3600));
        putLayer(10);
        putLayer(11);

        assertThatThrownBy(() -> putLayer(12)).isInstanceOf(QuotaExceededException.class)
                .hasMessageContaining("maximum size of 6000 bytes")
                .satisfies(e -> assertThat(((QuotaExceededException) e).figures()).get()
                        .extracting(QuotaExceededException.Figures::scope).isEqualTo("cache/docker-layers"));
        assertThat(state(CacheType.DOCKER_LAYERS).usage().entries()).isEqualTo(2);
        assertThat(cacheUsed()).as("nothing leaked into the quota").isEqualTo(2L * SIZE);
    }

    @Test
    void loweringATypesMaximumSizeEvictsDownToItAtOnce() throws IOException {
        start(CacheService.Policy.DEFAULTS, HardLimitAction.REJECT);
        put("a", 1);
        put("b", 2);
        put("c", 3);

        CacheService.TypeState state = storage.caches().setPolicy(ADMIN, ACME, CacheType.DEPENDENCIES,
                maxSize(SIZE, CacheRows.Order.LRU, 0));

        assertThat(state.usage()).isEqualTo(new CacheRows.TypeUsage(SIZE, 1));
        assertThat(present("c")).as("the most recently used stays").isTrue();
        assertThat(cacheUsed()).isEqualTo(SIZE);
    }

    @Test
    void theMaximumRetentionIsPerTenantAndType() throws IOException {
        start(CacheService.Policy.DEFAULTS, HardLimitAction.REJECT);
        storage.caches().setPolicy(ADMIN, ACME, CacheType.DOCKER_LAYERS, new CacheRows.PolicyRow(Optional.empty(), Optional.empty(),
                Optional.empty(), Optional.of(Duration.ofDays(1).toSeconds())));
        put("a", 1);
        putLayer(10);
        clock.advance(Duration.ofDays(2));

        assertThat(storage.caches().expire()).isEqualTo(1);

        assertThat(state(CacheType.DOCKER_LAYERS).usage()).isEqualTo(CacheRows.TypeUsage.EMPTY);
        assertThat(present("a")).as("dependencies keep the default: never expire").isTrue();
    }

    @Test
    void onlyTheAdminSetsAPolicyAndItsFiguresAreChecked() throws IOException {
        start(CacheService.Policy.DEFAULTS, HardLimitAction.REJECT);
        Principal tenant = new Principal.Tenant(ACME, "t1");
        assertThatThrownBy(() -> storage.caches().setPolicy(tenant, ACME, CacheType.DEPENDENCIES, maxSize(1, CacheRows.Order.LRU, 0)))
                .isInstanceOf(dev.builderd.storage.core.error.ForbiddenException.class);
        assertThatThrownBy(() -> storage.caches().setPolicy(ADMIN, ACME, CacheType.DEPENDENCIES, maxSize(-1, CacheRows.Order.LRU, 0)))
                .isInstanceOf(dev.builderd.storage.core.error.InvalidInputException.class).hasMessageContaining("zero or more");
        assertThatThrownBy(() -> storage.caches().setPolicy(ADMIN, TenantId.of("nobody"), CacheType.DEPENDENCIES,
                maxSize(1, CacheRows.Order.LRU, 0))).isInstanceOf(NotFoundException.class);
        assertThat(storage.caches().types(tenant, ACME)).hasSize(3);
    }

    @Test
    void anEntryStoredButNeverIndexedIsIndexedByReconciliationAndThenEvictedLikeTheRest() throws IOException {
        start(CacheService.Policy.DEFAULTS, HardLimitAction.REJECT);
        put("a", 1);
        // What a crash between the blob's publish and the index commit leaves.
        files.put(dev.builderd.storage.blob.BlobKey.of("tenants/acme/cache/dependencies/npm/orphan"),
                new ByteArrayInputStream(SeededBytes.array(9, SIZE)), SIZE, dev.builderd.storage.blob.WriteMode.OVERWRITE);

        assertThat(storage.caches().reconcileIndex()).isEqualTo(1);
        assertThat(storage.caches().reconcileIndex()).as("once").isZero();

        assertThat(state(CacheType.DEPENDENCIES).usage()).isEqualTo(new CacheRows.TypeUsage(2L * SIZE, 2));
        storage.caches().setPolicy(ADMIN, ACME, CacheType.DEPENDENCIES, maxSize(SIZE, CacheRows.Order.LRU, 0));
        assertThat(files.stat(dev.builderd.storage.blob.BlobKey.of("tenants/acme/cache/dependencies/npm/a"))).as("least recently used").isEmpty();
        assertThat(present("orphan")).isTrue();
    }

    @Test
    void anIndexedEntryWhoseBlobIsGoneIsDroppedWithItsBytesWhenAReadMissesIt() throws IOException {
        start(CacheService.Policy.DEFAULTS, HardLimitAction.REJECT);
        put("a", 1);
        put("b", 2);
        // What a crash between an eviction's delete and its index commit leaves.
        files.delete(dev.builderd.storage.blob.BlobKey.of("tenants/acme/cache/dependencies/npm/a"));

        assertThat(present("a")).isFalse();

        assertThat(state(CacheType.DEPENDENCIES).usage()).isEqualTo(new CacheRows.TypeUsage(SIZE, 1));
        assertThat(cacheUsed()).isEqualTo(SIZE);
    }
}
