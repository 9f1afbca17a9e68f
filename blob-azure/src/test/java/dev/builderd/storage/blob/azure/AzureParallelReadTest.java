package dev.builderd.storage.blob.azure;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.azure.core.http.HttpMethod;
import com.azure.core.http.HttpPipelineCallContext;
import com.azure.core.http.HttpPipelineNextPolicy;
import com.azure.core.http.HttpPipelineNextSyncPolicy;
import com.azure.core.http.HttpResponse;
import com.azure.core.http.policy.HttpPipelinePolicy;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.RemoteTimeouts;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.testing.RangeReads;
import dev.builderd.storage.testing.AzuriteServer;
import dev.builderd.storage.testing.SeededBytes;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import reactor.core.publisher.Mono;
import reactor.core.scheduler.Schedulers;

/**
 * Large reads as parallel ranged Get Blobs pinned to the first response's ETag, against Azurite
 * (5 MiB parts, 3 workers: see {@link AzuriteContractTest#settings}).
 */
@Timeout(120)
class AzureParallelReadTest {

    private static final int MIB = 1 << 20;
    private static final int SIZE = 23 * MIB + 5;
    private static final long SEED = 31;
    private static final AtomicInteger TESTS = new AtomicInteger();
    private static AzuriteServer.Container container;
    private static byte[] data;

    @BeforeAll
    static void createContainer() {
        container = AzuriteServer.shared().newContainer();
        data = SeededBytes.array(SEED, SIZE);
    }

    private static AzureSettings settings() {
        return AzuriteContractTest.settings(container).withKeyPrefix("parallel-" + TESTS.incrementAndGet() + "/");
    }

    /** Counts ranged Get Blobs in flight, and (when told to) holds those with If-Match until released. */
    private static final class RangedGets implements HttpPipelinePolicy {
        final AtomicInteger inFlight = new AtomicInteger();
        final AtomicInteger max = new AtomicInteger();
        final AtomicInteger pinned = new AtomicInteger();
        final CountDownLatch release;

        RangedGets(boolean hold) {
            this.release = new CountDownLatch(hold ? 1 : 0);
        }

        private boolean isRangedGet(HttpPipelineCallContext context) {
            return context.getHttpRequest().getHttpMethod() == HttpMethod.GET
                    && context.getHttpRequest().getHeaders().getValue("x-ms-range") != null;
        }

        private void enter(HttpPipelineCallContext context) {
            max.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
            if (context.getHttpRequest().getHeaders().getValue("If-Match") != null) {
                pinned.incrementAndGet();
                try {
                    release.await(60, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }

        @Override
        public Mono<HttpResponse> process(HttpPipelineCallContext context, HttpPipelineNextPolicy next) {
            if (!isRangedGet(context)) {
                return next.process();
            }
            return Mono.defer(() -> {
                java.util.concurrent.atomic.AtomicBoolean entered = new java.util.concurrent.atomic.AtomicBoolean();
                return Mono.fromRunnable(() -> {
                            entered.set(true);
                            enter(context);
                        }).subscribeOn(Schedulers.boundedElastic())
                        .then(Mono.defer(next::process))
                        .doFinally(signal -> {
                            if (entered.get()) {
                                inFlight.decrementAndGet();
                            }
                        });
            });
        }

        @Override
        public HttpResponse processSync(HttpPipelineCallContext context, HttpPipelineNextSyncPolicy next) {
            if (!isRangedGet(context)) {
                return next.processSync();
            }
            try {
                enter(context);
                return next.processSync();
            } finally {
                inFlight.decrementAndGet();
            }
        }
    }

    @Test
    void randomParallelRangesAreByteExact() throws Exception {
        RangedGets gets = new RangedGets(false);
        AzureSettings settings = settings();
        long seed = System.nanoTime();
        try (AzureBlobStore store = new AzureBlobStore(settings, List.of(gets))) {
            BlobKey key = BlobKey.of("blob");
            store.put(key, new ByteArrayInputStream(data), SIZE, WriteMode.OVERWRITE);
            RangeReads.assertEveryRangeReadsExactly(store, key, data, 5 * MIB, seed, 6);
            assertThat(gets.pinned.get()).as("ranged Get Blobs with If-Match").isGreaterThan(0);
            assertThat(gets.max.get()).as("ranged Get Blobs in flight at once")
                    .isLessThanOrEqualTo(settings.parallelIo().workers() + 1);
        }
    }

    @Test
    void aSmallRangeIsOneRequest() throws Exception {
        RangedGets gets = new RangedGets(false);
        try (AzureBlobStore store = new AzureBlobStore(settings(), List.of(gets))) {
            BlobKey key = BlobKey.of("blob");
            store.put(key, new ByteArrayInputStream(data), SIZE, WriteMode.OVERWRITE);
            try (InputStream in = store.open(key, new ByteRange(7, 10L * MIB))) {
                assertThat(Arrays.equals(in.readAllBytes(), Arrays.copyOfRange(data, 7, 7 + 10 * MIB))).isTrue();
            }
            assertThat(gets.pinned.get()).as("ranged Get Blobs with If-Match").isZero();
        }
    }

    @Test
    void aBlobReplacedDuringAParallelReadFailsTheReadInsteadOfMixingVersions() throws Exception {
        RangedGets gets = new RangedGets(true);
        try (AzureBlobStore store = new AzureBlobStore(settings(), List.of(gets))) {
            BlobKey key = BlobKey.of("replaced/blob");
            store.put(key, new ByteArrayInputStream(data), SIZE, WriteMode.OVERWRITE);
            try (InputStream in = store.open(key, ByteRange.ALL)) {
                assertThat(in.readNBytes(1000)).isEqualTo(Arrays.copyOf(data, 1000));
                store.put(key, SeededBytes.stream(SEED + 1, SIZE), SIZE, WriteMode.OVERWRITE);
                gets.release.countDown(); // only now may the later parts be fetched
                byte[] firstPart = in.readNBytes(5 * MIB - 1000);
                assertThat(firstPart).as("the first part, streamed from the old version")
                        .isEqualTo(Arrays.copyOfRange(data, 1000, 5 * MIB));
                assertThatThrownBy(() -> in.readAllBytes())
                        .isInstanceOf(IOException.class)
                        .hasMessageContaining(key.value())
                        .hasMessageContaining("replaced or deleted while it was being read");
            }
            try (InputStream in = store.open(key, ByteRange.ALL)) {
                assertThat(SeededBytes.sha256(in)).isEqualTo(SeededBytes.sha256(SEED + 1, SIZE));
            }
        }
    }

    @Test
    void aBlobDeletedDuringAParallelReadFailsTheRead() throws Exception {
        RangedGets gets = new RangedGets(true);
        try (AzureBlobStore store = new AzureBlobStore(settings(), List.of(gets))) {
            BlobKey key = BlobKey.of("deleted/blob");
            store.put(key, new ByteArrayInputStream(data), SIZE, WriteMode.OVERWRITE);
            try (InputStream in = store.open(key, new ByteRange(0, 12L * MIB))) {
                in.readNBytes(10);
                assertThat(store.delete(key)).isTrue();
                gets.release.countDown();
                assertThatThrownBy(() -> in.readAllBytes())
                        .isInstanceOf(IOException.class)
                        .hasMessageContaining(key.value())
                        .hasMessageContaining("replaced or deleted while it was being read");
            }
        }
    }

    @Test
    void closingParallelReadsEarlyReleasesEverything() throws Exception {
        // 16 connections at most (see AzureBlobStore); leaked ones would make later requests wait and fail.
        AzureSettings settings = settings().withTimeouts(new RemoteTimeouts(Duration.ofSeconds(2), Duration.ofSeconds(5), 1));
        RangedGets gets = new RangedGets(false);
        try (AzureBlobStore store = new AzureBlobStore(settings, List.of(gets))) {
            BlobKey key = BlobKey.of("early/blob");
            store.put(key, new ByteArrayInputStream(data), SIZE, WriteMode.OVERWRITE);
            for (int i = 0; i < 12; i++) {
                try (InputStream unread = store.open(key, ByteRange.ALL); InputStream partRead = store.open(key, ByteRange.ALL)) {
                    assertThat(partRead.readNBytes(7 * MIB + i)).isEqualTo(Arrays.copyOf(data, 7 * MIB + i));
                }
            }
            try (InputStream in = store.open(key, new ByteRange(MIB, 12L * MIB))) {
                assertThat(Arrays.equals(in.readAllBytes(), Arrays.copyOfRange(data, MIB, 13 * MIB))).isTrue();
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (gets.inFlight.get() > 0 && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertThat(gets.inFlight.get()).as("ranged Get Blobs still in flight after every stream closed").isZero();
        }
    }

    @Test
    void closingAParallelReadWhosePartsHangReturnsAtOnce() throws Exception {
        RangedGets gets = new RangedGets(true);
        try (AzureBlobStore store = new AzureBlobStore(settings(), List.of(gets))) {
            BlobKey key = BlobKey.of("hang/blob");
            store.put(key, new ByteArrayInputStream(data), SIZE, WriteMode.OVERWRITE);
            long started = System.nanoTime();
            try (InputStream in = store.open(key, ByteRange.ALL)) {
                in.readNBytes(100);
            }
            assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(10));
        } finally {
            gets.release.countDown();
        }
    }
}
