package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobNotFoundException;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.BufferReads;
import dev.builderd.storage.blob.BufferStream;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.FileAdoption;
import dev.builderd.storage.blob.FileChannelReads;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.core.model.TenantId;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;

/**
 * Counts and times every operation on a backend store, the spec's
 * {@code builderd_storage_operations_total{tenant_id,operation,backend}} and
 * {@code builderd_storage_operation_duration_seconds{tenant_id,operation}}, with the failures by
 * backend. It sits above encryption (what clients asked for), and forwards the file capabilities
 * of the store below ({@link FileChannelReads}, {@link FileAdoption}) when it has them. The tenant label is the tenant whose tree the key is in
 * ({@code tenants/{t}/...}), or {@code _global}: bounded by the number of tenants, never a label
 * per build or key. An {@code open} is timed to the stream being ready, not to its last byte.
 */
final class MeteredBlobStore implements BlobStore, FileChannelReads, FileAdoption, BufferReads {

    /** Outside the tenant trees; no tenant ID has an underscore, so no tenant is ever labelled so. */
    private static final String GLOBAL = "_global";

    /** The metrics every metered store of one registry shares. */
    static final class Meters {
        private final Counter operations;
        private final Histogram durations;
        private final Histogram backendDurations;
        private final Counter failures;
        private final Layout layout;

        Meters(PrometheusRegistry registry, Layout layout) {
            this.layout = layout;
            operations = Counter.builder().name("builderd_storage_operations")
                    .help("Operations on the storage backends, by tenant, operation (put, open, stat, delete, list) and backend")
                    .labelNames("tenant_id", "operation", "backend").register(registry);
            durations = Histogram.builder().name("builderd_storage_operation_duration_seconds")
                    .help("Time a backend operation took (an open: until its stream was ready)")
                    .classicUpperBounds(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
                    .labelNames("tenant_id", "operation").register(registry);
            backendDurations = Histogram.builder().name("builderd_backend_operation_duration_seconds")
                    .help("Time a backend operation took, by backend and operation (the same timings as"
                            + " builderd_storage_operation_duration_seconds, without the tenant)")
                    .classicUpperBounds(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
                    .labelNames("backend", "operation").register(registry);
            failures = Counter.builder().name("builderd_storage_operation_failures")
                    .help("Backend operations that failed (a missing blob is not a failure), by operation and backend")
                    .labelNames("operation", "backend").register(registry);
        }

        /** {@code store}, metered. */
        BlobStore wrap(BlobStore store) {
            return new MeteredBlobStore(store, this);
        }
    }

    @FunctionalInterface
    private interface Operation<T> {
        T run() throws IOException;
    }

    private final BlobStore delegate;
    private final Meters meters;

    private MeteredBlobStore(BlobStore delegate, Meters meters) {
        this.delegate = delegate;
        this.meters = meters;
    }

    /** The store below. */
    BlobStore delegate() {
        return delegate;
    }

    /** The tenant whose tree a key is in, or {@code _global}. */
    private String tenantOf(BlobKey key) {
        return meters.layout.tenantOf(key).map(TenantId::value).orElse(GLOBAL);
    }

    /** The tenant whose tree a list prefix is in, or {@code _global}. */
    private String tenantOfPrefix(String prefix) {
        // A prefix ends with '/', which no key does: one more character makes it a key of that tree.
        String key = prefix + "-";
        return BlobKey.isValid(key) ? tenantOf(BlobKey.of(key)) : GLOBAL;
    }

    /** {@link #timed(String, String, Operation)} of an operation on one key, which needs no re-validating. */
    private <T> T timed(String operation, BlobKey key, Operation<T> work) throws IOException {
        return timed(operation, tenantOf(key), work);
    }

    /** Counts and times {@code work}, labelled with {@code tenant}. */
    private <T> T timed(String operation, String tenant, Operation<T> work) throws IOException {
        meters.operations.labelValues(tenant, operation, delegate.backendName()).inc();
        long started = System.nanoTime();
        try {
            return work.run();
        } catch (BlobNotFoundException | AtomicMoveNotSupportedException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            meters.failures.labelValues(operation, delegate.backendName()).inc();
            throw e;
        } finally {
            double seconds = (System.nanoTime() - started) / 1e9;
            meters.durations.labelValues(tenant, operation).observe(seconds);
            meters.backendDurations.labelValues(delegate.backendName(), operation).observe(seconds);
        }
    }

    @Override
    public BlobInfo put(BlobKey key, InputStream data, long length, WriteMode mode) throws IOException {
        return timed("put", key, () -> delegate.put(key, data, length, mode));
    }

    @Override
    public InputStream open(BlobKey key, ByteRange range) throws IOException {
        return timed("open", key, () -> delegate.open(key, range));
    }

    @Override
    public Optional<BlobInfo> stat(BlobKey key) throws IOException {
        return timed("stat", key, () -> delegate.stat(key));
    }

    @Override
    public boolean delete(BlobKey key) throws IOException {
        return timed("delete", key, () -> delegate.delete(key));
    }

    @Override
    public int deleteAll(List<BlobKey> keys) throws IOException {
        return timed("delete", keys.isEmpty() ? GLOBAL : tenantOf(keys.getFirst()), () -> delegate.deleteAll(keys));
    }

    @Override
    public Iterator<BlobInfo> list(String prefix, BlobKey startAfter) throws IOException {
        return timed("list", tenantOfPrefix(prefix), () -> delegate.list(prefix, startAfter));
    }

    @Override
    public Optional<FileChannel> openChannel(BlobKey key) throws IOException {
        if (!(delegate instanceof FileChannelReads files)) {
            return Optional.empty();
        }
        return timed("open", key, () -> files.openChannel(key));
    }

    @Override
    public Optional<BufferStream> openBuffers(BlobKey key, ByteRange range) throws IOException {
        if (!(delegate instanceof BufferReads buffers)) {
            return Optional.empty();
        }
        return timed("open", key, () -> buffers.openBuffers(key, range));
    }

    @Override
    public BlobInfo adopt(BlobKey key, Path file) throws IOException {
        if (!(delegate instanceof FileAdoption adoption)) {
            throw new AtomicMoveNotSupportedException(file.toString(), null, "the " + delegate.backendName() + " store keeps no local files");
        }
        return timed("put", key, () -> adoption.adopt(key, file));
    }

    @Override
    public String backendName() {
        return delegate.backendName();
    }
}
