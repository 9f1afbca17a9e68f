package dev.builderd.storage.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class SharedServerTest {

    @Test
    void startsOnceOnFirstUseAndGivesEveryCallerTheSameServer() throws Exception {
        AtomicInteger starts = new AtomicInteger();
        CountDownLatch go = new CountDownLatch(1);
        SharedServer<Object> shared = new SharedServer<>("shared-server-test-stop", () -> {
            starts.incrementAndGet();
            return new Object();
        }, server -> { });
        assertThat(starts).hasValue(0);

        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<Object>> results = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                results.add(pool.submit(() -> {
                    go.await();
                    return shared.get();
                }));
            }
            go.countDown();
            Object first = results.get(0).get();
            for (Future<Object> result : results) {
                assertThat(result.get()).isSameAs(first);
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(starts).hasValue(1);
    }

    @Test
    void remembersAFailedStartAndRethrowsItAtOnceAsIllegalStateException() {
        AtomicInteger starts = new AtomicInteger();
        RuntimeException boom = new UnsupportedOperationException("no server binaries");
        SharedServer<Object> shared = new SharedServer<>("shared-server-test-stop", () -> {
            starts.incrementAndGet();
            throw boom;
        }, server -> { });

        assertThatThrownBy(shared::get).isSameAs(boom);
        assertThatThrownBy(shared::get)
                .isInstanceOf(IllegalStateException.class)
                .hasMessage("no server binaries")
                .hasCause(boom);
        assertThatThrownBy(shared::get).isInstanceOf(IllegalStateException.class).hasCause(boom);
        assertThat(starts).hasValue(1);
    }
}
