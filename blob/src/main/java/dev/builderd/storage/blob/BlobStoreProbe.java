package dev.builderd.storage.blob;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A real round trip through a store, for health checks: write a small blob, read it back,
 * compare, delete it; within a deadline, so that a hanging backend shows as failed rather than
 * hanging the health check.
 */
public final class BlobStoreProbe {

    /** The outcome: how long the round trip took, or why it failed. */
    public record Result(boolean ok, Duration took, Optional<String> problem) {
    }

    private BlobStoreProbe() {
    }

    /** Probes {@code store} with a blob under {@code keyPrefix}, giving up after {@code deadline}. */
    public static Result probe(BlobStore store, String keyPrefix, Duration deadline) {
        long start = System.nanoTime();
        CompletableFuture<Void> roundTrip = CompletableFuture.runAsync(() -> {
            try {
                roundTrip(store, BlobKey.of(keyPrefix + "probe-" + UUID.randomUUID()));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, task -> Thread.ofVirtual().name("probe-" + store.backendName()).start(task));
        try {
            roundTrip.get(deadline.toMillis(), TimeUnit.MILLISECONDS);
            return new Result(true, Duration.ofNanos(System.nanoTime() - start), Optional.empty());
        } catch (TimeoutException e) {
            roundTrip.cancel(true);
            return new Result(false, Duration.ofNanos(System.nanoTime() - start),
                    Optional.of("no answer within " + deadline.toMillis() + " ms"));
        } catch (ExecutionException e) {
            Throwable cause = e.getCause() instanceof java.io.UncheckedIOException u ? u.getCause() : e.getCause();
            return new Result(false, Duration.ofNanos(System.nanoTime() - start),
                    Optional.of(cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(false, Duration.ofNanos(System.nanoTime() - start), Optional.of("interrupted"));
        }
    }

    private static void roundTrip(BlobStore store, BlobKey key) throws IOException {
        byte[] content = ("builderd health probe " + key).getBytes(StandardCharsets.UTF_8);
        store.put(key, new ByteArrayInputStream(content), content.length, WriteMode.CREATE_NEW);
        try (InputStream in = store.open(key, ByteRange.ALL)) {
            if (!Arrays.equals(in.readAllBytes(), content)) {
                throw new IOException("the probe blob read back differs from what was written");
            }
        } finally {
            store.delete(key);
        }
    }
}
