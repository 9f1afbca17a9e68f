package dev.builderd.storage.blob.azure;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.azure.core.http.HttpPipelineCallContext;
import com.azure.core.http.HttpPipelineNextPolicy;
import com.azure.core.http.HttpPipelineNextSyncPolicy;
import com.azure.core.http.HttpPipelinePosition;
import com.azure.core.http.HttpResponse;
import com.azure.core.http.policy.HttpPipelinePolicy;
import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.ParallelIo;
import dev.builderd.storage.blob.RemoteTimeouts;
import dev.builderd.storage.blob.UploadLengthMismatchException;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.testing.AzuriteServer;
import dev.builderd.storage.testing.FailingInputStream;
import dev.builderd.storage.testing.SeededBytes;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.ThrowingConsumer;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/** What the contract does not cover: multi-block failures, bad credentials, missing container, a silent server. */
class AzureBlobStoreTest {

    private static final int MIB = 1 << 20;
    private static final AtomicInteger TESTS = new AtomicInteger();
    private static AzuriteServer.Container container;

    @BeforeAll
    static void createContainer() {
        container = AzuriteServer.shared().newContainer();
    }

    private static AzureSettings settings() {
        return AzuriteContractTest.settings(container).withKeyPrefix("unit-" + TESTS.incrementAndGet() + "/");
    }

    @Test
    void aStreamFailingAfterSeveralStagedBlocksCommitsNothing() throws Exception {
        AzureSettings settings = settings();
        BlobKey key = BlobKey.of("multi/fails");
        try (AzureBlobStore store = new AzureBlobStore(settings)) {
            store.put(key, new ByteArrayInputStream("old".getBytes(StandardCharsets.UTF_8)), 3, WriteMode.CREATE_NEW);
            long failAfter = 16L * MIB + 3; // three full 5 MiB blocks staged, the fourth being read

            assertThatThrownBy(() -> store.put(key, new FailingInputStream(SeededBytes.stream(1, failAfter), failAfter),
                    -1, WriteMode.OVERWRITE))
                    .isInstanceOf(IOException.class)
                    .hasMessage(FailingInputStream.MESSAGE);

            assertThat(store.stat(key)).get().extracting(BlobInfo::size).isEqualTo(3L);
            try (InputStream in = store.open(key, ByteRange.ALL)) {
                assertThat(in.readAllBytes()).asString(StandardCharsets.UTF_8).isEqualTo("old");
            }
            // The staged blocks stay uncommitted until Azure discards them (documented in AzureBlobStore).
            assertThat(AzuriteContractTest.uncommittedBlocks(AzuriteContractTest.sdkClient(container), settings.keyPrefix()))
                    .as("uncommitted blocks, invisible to readers").isNotEmpty();
        }
    }

    @Test
    void blocksAreStagedInParallelUpToTheWorkerCount() throws Exception {
        int workers = 3; // AzuriteContractTest.settings
        CountDownLatch allWorkersBusy = new CountDownLatch(workers);
        AtomicInteger inFlight = new AtomicInteger();
        AtomicInteger maxInFlight = new AtomicInteger();
        AtomicInteger staged = new AtomicInteger();
        AtomicBoolean sequential = new AtomicBoolean();
        HttpPipelinePolicy watch = new HttpPipelinePolicy() {
            @Override
            public Mono<HttpResponse> process(HttpPipelineCallContext context, HttpPipelineNextPolicy next) {
                if (!isStageBlock(context)) {
                    return next.process();
                }
                // Counted down before the response reaches the caller (doOnSuccess, not doFinally,
                // which runs after the store may already have started the next block).
                return Mono.fromRunnable(this::enter).subscribeOn(Schedulers.boundedElastic())
                        .then(Mono.defer(next::process))
                        .doOnSuccess(response -> inFlight.decrementAndGet())
                        .doOnError(error -> inFlight.decrementAndGet())
                        .doOnCancel(inFlight::decrementAndGet);
            }

            @Override
            public HttpResponse processSync(HttpPipelineCallContext context, HttpPipelineNextSyncPolicy next) {
                if (!isStageBlock(context)) {
                    return next.processSync();
                }
                try {
                    enter();
                    return next.processSync();
                } finally {
                    inFlight.decrementAndGet();
                }
            }

            private boolean isStageBlock(HttpPipelineCallContext context) {
                String query = context.getHttpRequest().getUrl().getQuery();
                return query != null && (query.contains("comp=block&") || query.endsWith("comp=block"));
            }

            private void enter() {
                staged.incrementAndGet();
                maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
                // The first blocks wait until `workers` of them are in flight at once: this
                // fails (rather than slows) an upload that stages one block at a time.
                allWorkersBusy.countDown();
                try {
                    if (!allWorkersBusy.await(30, TimeUnit.SECONDS)) {
                        sequential.set(true);
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException(e);
                }
            }

            @Override
            public HttpPipelinePosition getPipelinePosition() {
                return HttpPipelinePosition.PER_RETRY;
            }
        };
        long size = 7L * ParallelIo.MIN_PART_SIZE + 5;
        try (AzureBlobStore store = new AzureBlobStore(settings(), List.of(watch))) {
            store.put(BlobKey.of("multi/parallel"), SeededBytes.stream(8, size), -1, WriteMode.CREATE_NEW);

            try (InputStream in = store.open(BlobKey.of("multi/parallel"), ByteRange.ALL)) {
                assertThat(SeededBytes.sha256(in)).isEqualTo(SeededBytes.sha256(8, size));
            }
        }
        assertThat(sequential).as("blocks were staged one at a time").isFalse();
        assertThat(staged).hasValue(8);
        assertThat(maxInFlight).hasValue(workers);
    }

    @Test
    void aShortBodyOfAMultiBlockUploadIsRejectedAndNothingCommitted() throws Exception {
        BlobKey key = BlobKey.of("multi/short");
        try (AzureBlobStore store = new AzureBlobStore(settings())) {
            assertThatThrownBy(() -> store.put(key, SeededBytes.stream(2, 11L * MIB), 12L * MIB, WriteMode.CREATE_NEW))
                    .isInstanceOf(UploadLengthMismatchException.class)
                    .hasMessageContaining(key.value());
            assertThatThrownBy(() -> store.put(key, SeededBytes.stream(2, 12L * MIB + 1), 12L * MIB, WriteMode.CREATE_NEW))
                    .isInstanceOf(UploadLengthMismatchException.class)
                    .hasMessageContaining(key.value());

            assertThat(store.stat(key)).isEmpty();
            assertThat(store.list("", null).hasNext()).isFalse();
        }
    }

    @Test
    void createNewOfAMultiBlockBlobOverAnExistingOneFailsAndKeepsIt() throws Exception {
        BlobKey key = BlobKey.of("multi/create-new");
        try (AzureBlobStore store = new AzureBlobStore(settings())) {
            store.put(key, SeededBytes.stream(3, 100), 100, WriteMode.CREATE_NEW);

            assertThatThrownBy(() -> store.put(key, SeededBytes.stream(4, 11L * MIB), 11L * MIB, WriteMode.CREATE_NEW))
                    .isInstanceOf(dev.builderd.storage.blob.BlobAlreadyExistsException.class)
                    .hasMessageContaining(key.value());
            assertThat(store.stat(key)).get().extracting(BlobInfo::size).isEqualTo(100L);
        }
    }

    @Test
    void aWrongAccessKeyFailsNamingAccountAndContainerButNeverTheKey() throws Exception {
        String wrongKey = Base64.getEncoder().encodeToString("not the key of devstoreaccount1, clearly".getBytes(StandardCharsets.UTF_8));
        AzureSettings settings = new AzureSettings(container.account(), container.name(), wrongKey, settings().endpoint(),
                settings().parallelIo(), settings().timeouts(), settings().tls(), "");
        try (AzureBlobStore store = new AzureBlobStore(settings)) {
            assertEveryCallFails(store, e -> assertThat(e.getMessage())
                    .contains(container.account(), container.name(), "credentials")
                    .doesNotContain(wrongKey, container.accessKey()));
        }
        assertThat(settings.toString()).doesNotContain(wrongKey).contains(container.account());
    }

    @Test
    void aMissingContainerIsNamedAsMissing() throws Exception {
        AzureSettings settings = new AzureSettings(container.account(), "no-such-container", container.accessKey(),
                settings().endpoint(), settings().parallelIo(), settings().timeouts(), settings().tls(), "");
        try (AzureBlobStore store = new AzureBlobStore(settings)) {
            assertEveryCallFails(store, e -> assertThat(e.getMessage())
                    .contains("no-such-container", container.account(), "does not exist")
                    .doesNotContain(container.accessKey()));
        }
    }

    @Test
    void aServerThatNeverAnswersFailsWithinTheRequestTimeoutAfterRetrying() throws Exception {
        try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
            List<Socket> accepted = new ArrayList<>();
            Thread acceptor = Thread.ofVirtual().start(() -> {
                try {
                    while (true) {
                        Socket socket = silent.accept(); // read nothing, answer nothing
                        synchronized (accepted) {
                            accepted.add(socket);
                        }
                    }
                } catch (IOException e) {
                    // closed at the end of the test
                }
            });
            AzureSettings settings = settings()
                    .withEndpoint(URI.create("http://127.0.0.1:" + silent.getLocalPort() + "/" + container.account()))
                    .withTimeouts(new RemoteTimeouts(Duration.ofSeconds(2), Duration.ofMillis(500), 2));
            try (AzureBlobStore store = new AzureBlobStore(settings)) {
                assertThatThrownBy(() -> store.stat(BlobKey.of("never/answered")))
                        .isInstanceOf(IOException.class)
                        .hasMessageContaining("never/answered")
                        .hasMessageContaining(container.account());
                assertThatThrownBy(() -> store.put(BlobKey.of("never/stored"), SeededBytes.stream(5, 10), 10, WriteMode.OVERWRITE))
                        .isInstanceOf(IOException.class)
                        .hasMessageContaining("never/stored");
            } finally {
                silent.close();
                acceptor.join();
                synchronized (accepted) {
                    assertThat(accepted).as("connections: one per attempt, two attempts for each of two calls").hasSizeGreaterThanOrEqualTo(4);
                    for (Socket socket : accepted) {
                        socket.close();
                    }
                }
            }
        }
    }

    @Test
    void streamsClosedUnreadOrHalfReadGiveTheirConnectionsBack() throws Exception {
        BlobKey key = BlobKey.of("streams/blob");
        // 16 connections at most (see AzureBlobStore); a leaked one would make the 17th wait and fail.
        AzureSettings settings = settings().withTimeouts(new RemoteTimeouts(Duration.ofSeconds(2), Duration.ofSeconds(5), 1));
        try (AzureBlobStore store = new AzureBlobStore(settings)) {
            store.put(key, SeededBytes.stream(7, 3 * MIB), 3 * MIB, WriteMode.CREATE_NEW);
            for (int i = 0; i < 40; i++) {
                try (InputStream unread = store.open(key, ByteRange.ALL); InputStream halfRead = store.open(key, ByteRange.ALL)) {
                    halfRead.readNBytes(MIB + i);
                }
            }
            try (InputStream in = store.open(key, new ByteRange(MIB, 10))) {
                assertThat(in.readAllBytes()).hasSize(10);
            }
        }
    }

    @Test
    void settingsValidateAndHideTheKey() {
        assertThatThrownBy(() -> AzureSettings.of("devstoreaccount1", "Bad_Container", AzuriteServer.ACCESS_KEY))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("Bad_Container");
        assertThatThrownBy(() -> AzureSettings.of("devstoreaccount1", "builds", "not base64 !"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageNotContaining("not base64 !");
        assertThatThrownBy(() -> settings().withKeyPrefix("no-slash"))
                .isInstanceOf(IllegalArgumentException.class);
        AzureSettings ok = AzureSettings.of("myaccount", "builds", AzuriteServer.ACCESS_KEY);
        assertThat(ok.serviceEndpoint()).hasToString("https://myaccount.blob.core.windows.net");
        assertThat(ok.toString()).doesNotContain(AzuriteServer.ACCESS_KEY);
    }

    private static void assertEveryCallFails(AzureBlobStore store, ThrowingConsumer<Throwable> check) {
        BlobKey key = BlobKey.of("some/key");
        List<ThrowingRunnable> calls = List.of(
                () -> store.put(key, SeededBytes.stream(6, 10), 10, WriteMode.CREATE_NEW),
                () -> store.put(key, SeededBytes.stream(6, 11L * MIB), 11L * MIB, WriteMode.OVERWRITE),
                () -> store.open(key, ByteRange.ALL),
                () -> store.stat(key),
                () -> store.delete(key),
                () -> store.list("", null).hasNext(),
                store::checkContainer);
        for (ThrowingRunnable call : calls) {
            assertThatThrownBy(call::run).satisfies(e -> {
                Throwable io = e instanceof UncheckedIOException u ? u.getCause() : e;
                assertThat(io).isInstanceOf(IOException.class);
                check.accept(io);
            });
        }
    }

    @FunctionalInterface
    private interface ThrowingRunnable {
        void run() throws Exception;
    }
}
