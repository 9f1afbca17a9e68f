package dev.builderd.storage.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.blob.BackendUnavailableException;
import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.CircuitBreakingBlobStore;
import dev.builderd.storage.blob.MemoryBlobStore;
import dev.builderd.storage.blob.WriteMode;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.Iterator;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

class CircuitBreakingBlobStoreTest {

    /** The wrapper keeps the whole contract when its backend is healthy. */
    @Nested
    class Contract extends BlobStoreContract {
        @Override
        protected BlobStore newStore() {
            return new CircuitBreakingBlobStore(new MemoryBlobStore(), 3, Duration.ofSeconds(30), new MovableClock());
        }
    }

    /** A backend that fails every call while {@code down} is set, and counts the calls it gets. */
    static final class FlakyStore implements BlobStore {
        final MemoryBlobStore healthy = new MemoryBlobStore();
        final AtomicBoolean down = new AtomicBoolean();
        final AtomicInteger calls = new AtomicInteger();

        private void maybeFail() throws IOException {
            calls.incrementAndGet();
            if (down.get()) {
                throw new IOException("connection refused by backend");
            }
        }

        @Override
        public BlobInfo put(BlobKey key, InputStream data, long length, WriteMode mode) throws IOException {
            maybeFail();
            return healthy.put(key, data, length, mode);
        }

        @Override
        public InputStream open(BlobKey key, ByteRange range) throws IOException {
            maybeFail();
            return healthy.open(key, range);
        }

        @Override
        public Optional<BlobInfo> stat(BlobKey key) throws IOException {
            maybeFail();
            return healthy.stat(key);
        }

        @Override
        public boolean delete(BlobKey key) throws IOException {
            maybeFail();
            return healthy.delete(key);
        }

        @Override
        public Iterator<BlobInfo> list(String prefix, BlobKey startAfter) throws IOException {
            maybeFail();
            return healthy.list(prefix, startAfter);
        }

        @Override
        public String backendName() {
            return "flaky";
        }
    }

    private final FlakyStore backend = new FlakyStore();
    private final MovableClock clock = new MovableClock();
    private final CircuitBreakingBlobStore store = new CircuitBreakingBlobStore(backend, 3, Duration.ofSeconds(30), clock);
    private final BlobKey key = BlobKey.of("a/b");

    @Test
    void opensAfterConsecutiveFailuresAndThenFailsFastWithoutCallingTheBackend() {
        backend.down.set(true);
        for (int i = 0; i < 3; i++) {
            assertThatThrownBy(() -> store.stat(key)).hasMessage("connection refused by backend");
        }
        assertThat(store.state().open()).isTrue();
        int callsSoFar = backend.calls.get();

        assertThatThrownBy(() -> store.stat(key)).isInstanceOf(BackendUnavailableException.class)
                .hasMessageContaining("flaky backend is unavailable").hasMessageContaining("connection refused by backend");
        assertThat(backend.calls.get()).isEqualTo(callsSoFar);
    }

    @Test
    void aSuccessfulTrialAfterTheOpenPeriodClosesIt() throws IOException {
        backend.down.set(true);
        for (int i = 0; i < 3; i++) {
            assertThatThrownBy(() -> store.stat(key)).isInstanceOf(IOException.class);
        }
        backend.down.set(false);
        assertThatThrownBy(() -> store.stat(key)).isInstanceOf(BackendUnavailableException.class);

        clock.advance(Duration.ofSeconds(31));
        assertThat(store.stat(key)).isEmpty();
        assertThat(store.state().open()).isFalse();
        assertThat(store.state().consecutiveFailures()).isZero();
    }

    @Test
    void aFailedTrialReopensIt() {
        backend.down.set(true);
        for (int i = 0; i < 3; i++) {
            assertThatThrownBy(() -> store.stat(key)).isInstanceOf(IOException.class);
        }
        clock.advance(Duration.ofSeconds(31));
        assertThatThrownBy(() -> store.stat(key)).hasMessage("connection refused by backend");
        assertThatThrownBy(() -> store.stat(key)).isInstanceOf(BackendUnavailableException.class);
    }

    @Test
    void missingKeysAndBrokenClientStreamsDoNotCount() {
        for (int i = 0; i < 5; i++) {
            assertThatThrownBy(() -> store.open(key, ByteRange.ALL)).hasMessageContaining(key.value());
            assertThatThrownBy(() -> store.put(key, new FailingInputStream(new ByteArrayInputStream(new byte[10]), 5), 10,
                    WriteMode.OVERWRITE)).isInstanceOf(IOException.class);
        }
        assertThat(store.state().open()).isFalse();
        assertThat(store.state().consecutiveFailures()).isZero();
    }
}
