package dev.builderd.storage.blob.s3;

import static org.assertj.core.api.Assertions.assertThat;

import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.testing.RangeReads;
import dev.builderd.storage.testing.S3ProxyServer;
import dev.builderd.storage.testing.SeededBytes;
import java.io.InputStream;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.core.interceptor.Context;
import software.amazon.awssdk.core.interceptor.ExecutionAttributes;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;

/** Parallel multipart uploads and parallel ranged reads: bounded concurrency, exact bytes. */
final class S3ParallelTransferTest {

    private static final int MIB = 1 << 20;
    private static final int SIZE = 4 * 5 * MIB + 777;

    private static S3ProxyServer server;
    private static String bucket;
    private static byte[] data;
    private static long seed;

    @BeforeAll
    static void setUp() {
        server = S3ProxyServer.shared();
        bucket = server.newBucket();
        Long fixed = Long.getLong("builderd.test.seed");
        seed = fixed != null ? fixed : new SecureRandom().nextLong();
        data = SeededBytes.array(seed, SIZE);
    }

    @AfterAll
    static void release() {
        data = null;
    }

    /** Counts UploadPart / GetObject requests in flight at once. */
    private static final class InFlight implements ExecutionInterceptor {
        final AtomicInteger now = new AtomicInteger();
        final AtomicInteger max = new AtomicInteger();
        final AtomicInteger total = new AtomicInteger();

        private static boolean counted(Context.BeforeTransmission context) {
            var request = context.httpRequest();
            return request.rawQueryParameters().containsKey("partNumber") || request.method().name().equals("GET")
                    && request.firstMatchingHeader("Range").isPresent();
        }

        @Override
        public void beforeTransmission(Context.BeforeTransmission context, ExecutionAttributes attributes) {
            if (counted(context)) {
                total.incrementAndGet();
                max.accumulateAndGet(now.incrementAndGet(), Math::max);
                attributes.putAttribute(COUNTED, Boolean.TRUE);
            }
        }

        @Override
        public void afterTransmission(Context.AfterTransmission context, ExecutionAttributes attributes) {
            if (Boolean.TRUE.equals(attributes.getAttribute(COUNTED))) {
                attributes.putAttribute(COUNTED, Boolean.FALSE);
                now.decrementAndGet();
            }
        }

        @Override
        public void onExecutionFailure(Context.FailedExecution context, ExecutionAttributes attributes) {
            if (Boolean.TRUE.equals(attributes.getAttribute(COUNTED))) {
                attributes.putAttribute(COUNTED, Boolean.FALSE);
                now.decrementAndGet();
            }
        }

        private static final software.amazon.awssdk.core.interceptor.ExecutionAttribute<Boolean> COUNTED =
                new software.amazon.awssdk.core.interceptor.ExecutionAttribute<>("builderd.inflight");
    }

    @Test
    void aMultipartUploadNeverHasMorePartsInFlightThanWorkers() throws Exception {
        InFlight inFlight = new InFlight();
        S3Settings settings = S3TestSupport.settings(server, bucket).withKeyPrefix("upload/");
        try (S3BlobStore store = new S3BlobStore(settings, List.of(inFlight))) {
            store.put(BlobKey.of("blob"), new java.io.ByteArrayInputStream(data), SIZE, WriteMode.CREATE_NEW);

            assertThat(inFlight.total.get()).as("parts").isEqualTo(5);
            assertThat(inFlight.max.get()).as("parts in flight at once").isBetween(1, settings.parallelIo().workers());
            try (InputStream in = store.open(BlobKey.of("blob"), ByteRange.ALL)) {
                assertThat(SeededBytes.sha256(in)).as("seed " + seed).isEqualTo(SeededBytes.sha256(data));
            }
        }
    }

    @Test
    void parallelRangedReadsReturnExactlyTheSelectedBytes() throws Exception {
        InFlight inFlight = new InFlight();
        S3Settings settings = S3TestSupport.settings(server, bucket).withKeyPrefix("ranges/");
        try (S3BlobStore store = new S3BlobStore(settings, List.of(inFlight))) {
            BlobKey key = BlobKey.of("blob");
            store.put(key, new java.io.ByteArrayInputStream(data), SIZE, WriteMode.OVERWRITE);
            RangeReads.assertEveryRangeReadsExactly(store, key, data, 5 * MIB, seed, 5);
            assertThat(inFlight.max.get()).as("ranged GETs in flight at once")
                    .isLessThanOrEqualTo(settings.parallelIo().workers() + 1);
        }
    }

    @Test
    void closingAParallelReadEarlyIsFine() throws Exception {
        S3Settings settings = S3TestSupport.settings(server, bucket).withKeyPrefix("early/");
        try (S3BlobStore store = new S3BlobStore(settings)) {
            BlobKey key = BlobKey.of("blob");
            store.put(key, new java.io.ByteArrayInputStream(data), SIZE, WriteMode.OVERWRITE);
            for (int i = 0; i < 3; i++) {
                try (InputStream in = store.open(key, ByteRange.ALL)) {
                    assertThat(in.readNBytes(7 * MIB)).isEqualTo(Arrays.copyOf(data, 7 * MIB));
                }
            }
            assertThat(store.stat(key)).get().extracting(info -> info.size()).isEqualTo((long) SIZE);
        }
    }
}
