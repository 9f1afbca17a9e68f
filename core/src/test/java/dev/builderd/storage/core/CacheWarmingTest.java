package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobNotFoundException;
import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.core.CacheService.CacheType;
import dev.builderd.storage.core.error.ForbiddenException;
import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import dev.builderd.storage.testing.MovableClock;
import dev.builderd.storage.testing.SeededBytes;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Cache warming jobs: which entries they fetch into the local tiers, and their progress. */
class CacheWarmingTest {

    private static final Principal ADMIN = new Principal.Admin();
    private static final TenantId ACME = TenantId.of("acme");
    private static final TenantId GLOBEX = TenantId.of("globex");

    @TempDir
    Path dataRoot;
    private MetadataStore metadata;
    private BuilderdStorage storage;
    private CacheWarming warming;
    /** The local tiers: a key is local once fetched; fetching "fails" for keys named "broken". */
    private final Set<BlobKey> local = ConcurrentHashMap.newKeySet();

    @BeforeEach
    void start() throws IOException {
        metadata = MetadataStore.open(MetadataLocation.sqlite(dataRoot.resolve("metadata/builderd.db")));
        FileBlobStore store = new FileBlobStore(dataRoot);
        storage = new BuilderdStorage(CoreConfig.defaults(Layout.under(dataRoot)), metadata, Stores.single(store), "admin-token-for-tests",
                new MovableClock());
        storage.tenants().put(ADMIN, ACME, Tier.PRO, null);
        storage.tenants().put(ADMIN, GLOBEX, Tier.PRO, null);
        warming = new CacheWarming(metadata, storage.caches(), new CacheWarming.LocalTiers() {
            public boolean prefetch(BlobKey key) throws IOException {
                if (key.value().endsWith("/broken")) {
                    throw new IOException("the remote failed");
                }
                if (store.stat(key).isEmpty()) {
                    throw new BlobNotFoundException(key);
                }
                return local.add(key);
            }

            public long size(BlobKey key) throws IOException {
                return store.stat(key).orElseThrow().size();
            }
        }, java.time.Clock.systemUTC());
    }

    @AfterEach
    void stop() {
        warming.close();
        storage.close();
        metadata.close();
    }

    private void put(TenantId tenant, String key, int size) {
        storage.caches().put(ADMIN, tenant, CacheType.DEPENDENCIES, key, new ByteArrayInputStream(SeededBytes.array(size, size)), size);
    }

    private CacheWarming.Progress finished(CacheWarming.Progress started) {
        return await().until(() -> warming.progress(ADMIN, ACME, started.id()), progress -> !progress.state().equals("running"));
    }

    @Test
    void namedKeysAreFetchedOnceAndWhatTheTenantLacksCountsAsMissing() {
        put(ACME, "npm/a.tgz", 100);
        put(ACME, "npm/b.tgz", 200);
        put(ACME, "npm/broken", 5);
        var request = new CacheWarming.Request(Optional.of(CacheType.DEPENDENCIES), List.of("npm/a.tgz", "npm/b.tgz", "npm/absent.tgz",
                "npm/broken"), Optional.empty(), false);

        CacheWarming.Progress first = finished(warming.start(ADMIN, ACME, request));
        CacheWarming.Progress again = finished(warming.start(ADMIN, ACME, request));

        assertThat(first.state()).isEqualTo("finished");
        assertThat(List.of(first.total(), first.fetched(), first.alreadyLocal(), first.missing(), first.failed(), first.bytes()))
                .containsExactly(4L, 2L, 0L, 1L, 1L, 300L);
        assertThat(List.of(again.fetched(), again.alreadyLocal())).containsExactly(0L, 2L);
        assertThat(local).containsExactlyInAnyOrder(BlobKey.of("tenants/acme/cache/dependencies/npm/a.tgz"),
                BlobKey.of("tenants/acme/cache/dependencies/npm/b.tgz"));
    }

    @Test
    void anotherTenantsIndexNamesWhichOfThisTenantsEntriesToWarm() {
        for (int i = 0; i < 1_200; i++) {
            put(GLOBEX, "npm/p" + i + ".tgz", 10);
        }
        put(ACME, "npm/p7.tgz", 10);
        put(ACME, "npm/p1100.tgz", 10);
        put(ACME, "npm/only-acme.tgz", 10);

        CacheWarming.Progress done = finished(warming.start(ADMIN, ACME,
                new CacheWarming.Request(Optional.of(CacheType.DEPENDENCIES), List.of(), Optional.of(GLOBEX), false)));

        assertThat(List.of(done.total(), done.fetched(), done.missing())).containsExactly(1_200L, 2L, 1_198L);
        assertThat(local).noneMatch(key -> key.value().startsWith("tenants/globex/"));
    }

    @Test
    void theGlobalRegistryCacheIsWarmedWhole() {
        byte[] layer = SeededBytes.array(1, 1000);
        String digest = "sha256:" + SeededBytes.sha256(layer);
        storage.caches().putGlobal(ADMIN, digest, new ByteArrayInputStream(layer), layer.length);

        CacheWarming.Progress done = finished(warming.start(ADMIN, ACME, new CacheWarming.Request(Optional.empty(), List.of(),
                Optional.empty(), true)));

        assertThat(List.of(done.total(), done.fetched(), done.bytes())).containsExactly(1L, 1L, 1000L);
        assertThat(local).containsExactly(BlobKey.of("global/registry-cache/" + digest));
    }

    @Test
    void onlyTheAdminWarmsAndABadRequestIsRefusedBeforeAnythingStarts() {
        var keys = new CacheWarming.Request(Optional.of(CacheType.DOCKER_LAYERS), List.of("latest"), Optional.empty(), false);
        assertThatThrownBy(() -> warming.start(new Principal.Tenant(ACME, "t1"), ACME, keys)).isInstanceOf(ForbiddenException.class);
        assertThatThrownBy(() -> warming.start(ADMIN, ACME, keys)).isInstanceOf(InvalidInputException.class).hasMessageContaining("sha256:");
        assertThatThrownBy(() -> warming.start(ADMIN, ACME, new CacheWarming.Request(Optional.of(CacheType.DEPENDENCIES), List.of(),
                Optional.empty(), false))).isInstanceOf(InvalidInputException.class).hasMessageContaining("from_tenant");
        assertThatThrownBy(() -> warming.start(ADMIN, ACME, new CacheWarming.Request(Optional.of(CacheType.DEPENDENCIES), List.of(),
                Optional.of(TenantId.of("nobody")), false))).isInstanceOf(NotFoundException.class).hasMessageContaining("nobody");
        assertThatThrownBy(() -> warming.progress(ADMIN, GLOBEX, "no-such-job")).isInstanceOf(NotFoundException.class);
    }
}
