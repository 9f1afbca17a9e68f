package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.core.error.ConflictException;
import dev.builderd.storage.core.error.LimitExceededException;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.BuildStatus;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import dev.builderd.storage.testing.MovableClock;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The core used as a library, without HTTP: concurrency limits under races, leases on a clock the
 * test moves, and the guard between uploads and completion. Runs on SQLite here and on
 * PostgreSQL in {@link PostgresEmbeddedStorageTest}.
 */
class EmbeddedStorageTest {

    static final Principal ADMIN = new Principal.Admin();
    static final TenantId ACME = TenantId.of("acme");

    @TempDir
    Path dataRoot;
    final MovableClock clock = new MovableClock();
    MetadataStore metadata;
    BuilderdStorage storage;

    MetadataLocation metadataLocation() {
        return MetadataLocation.sqlite(dataRoot.resolve("metadata/builderd.db"));
    }

    @BeforeEach
    void open() throws IOException {
        metadata = MetadataStore.open(metadataLocation());
        Layout layout = Layout.under(dataRoot);
        FileBlobStore files = new FileBlobStore(dataRoot);
        storage = new BuilderdStorage(CoreConfig.defaults(layout), metadata, Stores.single(files),
                "admin-token-for-tests", clock);
    }

    @AfterEach
    void close() {
        storage.close();
        metadata.close();
    }

    @Test
    void racingCreatesNeverPassTheConcurrentBuildLimit() throws Exception {
        int rounds = 10;
        int attempts = 32;
        ExecutorService pool = Executors.newFixedThreadPool(attempts);
        try {
            for (int round = 0; round < rounds; round++) {
                TenantId tenant = TenantId.of("racer-" + round);
                storage.tenants().put(ADMIN, tenant, Tier.PRO, null);
                CountDownLatch start = new CountDownLatch(1);
                List<Future<Boolean>> results = new ArrayList<>();
                for (int i = 0; i < attempts; i++) {
                    results.add(pool.submit(() -> {
                        start.await();
                        try {
                            storage.builds().create(ADMIN, tenant, Optional.empty(), null);
                            return true;
                        } catch (LimitExceededException e) {
                            return false;
                        }
                    }));
                }
                start.countDown();
                int created = 0;
                for (Future<Boolean> result : results) {
                    created += result.get(60, TimeUnit.SECONDS) ? 1 : 0;
                }
                assertThat(created).as("builds created in round " + round).isEqualTo(Tier.PRO.concurrentBuilds());
                assertThat(storage.builds().list(ADMIN, tenant)).hasSize(Tier.PRO.concurrentBuilds());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void anExpiredLeaseFailsTheBuildCleansItAndFreesItsSlot() throws IOException {
        storage.tenants().put(ADMIN, ACME, Tier.FREE, null);
        var build = storage.builds().create(ADMIN, ACME, Optional.of(BuildId.of("b1")), Duration.ofSeconds(60));
        Files.writeString(build.paths().orElseThrow().temp().resolve("layer.tar"), "scratch");
        Files.writeString(build.paths().orElseThrow().workspace().resolve("main.c"), "source");
        assertThatThrownBy(() -> storage.builds().create(ADMIN, ACME, Optional.empty(), null))
                .isInstanceOf(LimitExceededException.class);

        clock.advance(Duration.ofSeconds(59));
        storage.builds().renewLease(ADMIN, build.build().ref(), Duration.ofSeconds(60));
        clock.advance(Duration.ofSeconds(59));
        assertThat(storage.builds().get(ADMIN, build.build().ref()).build().status()).isEqualTo(BuildStatus.ACTIVE);

        clock.advance(Duration.ofSeconds(2));
        var expired = storage.builds().get(ADMIN, build.build().ref()).build();
        assertThat(expired.status()).isEqualTo(BuildStatus.FAILED);
        assertThat(expired.failureReason()).get().asString().contains("lease expired");
        assertThat(build.paths().orElseThrow().temp()).doesNotExist();
        assertThat(build.paths().orElseThrow().workspace()).doesNotExist();
        assertThat(storage.builds().create(ADMIN, ACME, Optional.empty(), null).build().isActive()).isTrue();
    }

    @Test
    void aBuildCannotBeCompletedWhileAnUploadToItRunsAndAcceptsNoneAfterwards() throws Exception {
        storage.tenants().put(ADMIN, ACME, Tier.PRO, null);
        BuildRef ref = storage.builds().create(ADMIN, ACME, Optional.of(BuildId.of("b1")), null).build().ref();
        CountDownLatch uploading = new CountDownLatch(1);
        CountDownLatch finish = new CountDownLatch(1);
        InputStream slowBody = new InputStream() {
            private int sent;

            @Override
            public int read() throws IOException {
                if (sent == 1) {
                    uploading.countDown();
                    try {
                        finish.await();
                    } catch (InterruptedException e) {
                        throw new IOException(e);
                    }
                }
                return sent++ < 3 ? 'x' : -1;
            }
        };
        CompletableFuture<?> upload = CompletableFuture.runAsync(() ->
                storage.artifacts().upload(ADMIN, ref, FileName.of("a.bin"), slowBody, 3, null));
        assertThat(uploading.await(30, TimeUnit.SECONDS)).isTrue();

        assertThatThrownBy(() -> storage.builds().complete(ADMIN, ref, BuildStatus.SUCCEEDED))
                .isInstanceOf(ConflictException.class).hasMessageContaining("upload(s) to it are in progress");
        finish.countDown();
        upload.get(30, TimeUnit.SECONDS);

        storage.builds().complete(ADMIN, ref, BuildStatus.SUCCEEDED);
        assertThatThrownBy(() -> storage.artifacts().upload(ADMIN, ref, FileName.of("late.bin"),
                new ByteArrayInputStream(new byte[1]), 1, null))
                .isInstanceOf(ConflictException.class).hasMessageContaining("immutable");
        assertThat(storage.artifacts().list(ADMIN, ref)).extracting(a -> a.name().value()).containsExactly("a.bin");
    }
}
