package dev.builderd.storage.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.blob.ParallelRangeInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.Arrays;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class ParallelRangeInputStreamTest {

    private static final byte[] BLOB = SeededBytes.array(7, 100_003);
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();

    @AfterEach
    void shutdown() {
        executor.shutdownNow();
    }

    @Test
    void deliversPartsInOrderWhateverOrderTheyFinishIn() throws IOException {
        ParallelRangeInputStream.PartFetcher slowAndShuffled = (offset, length) -> {
            sleep(ThreadLocalRandom.current().nextInt(5));
            return Arrays.copyOfRange(BLOB, (int) offset, (int) offset + length);
        };
        try (InputStream in = new ParallelRangeInputStream(slowAndShuffled, executor, 17, BLOB.length, 997, 4)) {
            assertThat(in.readAllBytes()).isEqualTo(Arrays.copyOfRange(BLOB, 17, BLOB.length));
        }
    }

    @Test
    void fetchesAtMostTheWindowAhead() throws Exception {
        AtomicInteger started = new AtomicInteger();
        ParallelRangeInputStream.PartFetcher counting = (offset, length) -> {
            started.incrementAndGet();
            return Arrays.copyOfRange(BLOB, (int) offset, (int) offset + length);
        };
        try (InputStream in = new ParallelRangeInputStream(counting, executor, 0, BLOB.length, 1000, 3)) {
            Thread.sleep(100);
            assertThat(started).hasValue(3);
            in.readNBytes(1000);
            Thread.sleep(100);
            assertThat(started).hasValue(4);
        }
    }

    @Test
    void aFailedPartFailsTheReadThatReachesIt() throws IOException {
        ParallelRangeInputStream.PartFetcher failingThird = (offset, length) -> {
            if (offset == 2000) {
                throw new IOException("part at 2000 is gone");
            }
            return Arrays.copyOfRange(BLOB, (int) offset, (int) offset + length);
        };
        try (InputStream in = new ParallelRangeInputStream(failingThird, executor, 0, 5000, 1000, 2)) {
            assertThat(in.readNBytes(2000)).isEqualTo(Arrays.copyOf(BLOB, 2000));
            assertThatThrownBy(in::read).isInstanceOf(IOException.class).hasMessageContaining("part at 2000 is gone");
        }
    }

    @Test
    void closeCancelsOutstandingFetches() throws Exception {
        CountDownLatch blocked = new CountDownLatch(2);
        CountDownLatch interrupted = new CountDownLatch(2);
        ParallelRangeInputStream.PartFetcher hanging = (offset, length) -> {
            blocked.countDown();
            try {
                Thread.sleep(60_000);
            } catch (InterruptedException e) {
                interrupted.countDown();
            }
            throw new IOException("cancelled");
        };
        InputStream in = new ParallelRangeInputStream(hanging, executor, 0, 10_000, 1000, 2);
        assertThat(blocked.await(5, TimeUnit.SECONDS)).isTrue();
        in.close();
        assertThat(interrupted.await(5, TimeUnit.SECONDS)).isTrue();
        assertThatThrownBy(in::read).isInstanceOf(IOException.class);
    }

    private static void sleep(int millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
