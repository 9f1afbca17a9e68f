package dev.builderd.storage.server;

import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.CircuitBreakingBlobStore;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The daemon's own metrics, beside those of the core: free and total space of every local root
 * (the spec's {@code builderd_storage_free_bytes} / {@code builderd_storage_total_bytes}, which its
 * {@code StorageSpaceLow} alert divides), whether each remote backend's circuit breaker is open,
 * and the JVM's (memory, GC, threads, ...).
 */
final class DaemonMetrics {

    private DaemonMetrics() {
    }

    static void register(PrometheusRegistry registry, List<Path> localRoots, List<BlobStore> backends) {
        spaceGauge(registry, localRoots, "builderd_storage_free_bytes",
                "Bytes free for the daemon on the filesystem of a local root (usable space)", FileStore::getUsableSpace);
        spaceGauge(registry, localRoots, "builderd_storage_total_bytes", "Size of the filesystem of a local root",
                FileStore::getTotalSpace);
        List<CircuitBreakingBlobStore> breakers = backends.stream().map(dev.builderd.storage.core.Stores::primaryOf)
                .filter(CircuitBreakingBlobStore.class::isInstance).map(CircuitBreakingBlobStore.class::cast).toList();
        GaugeWithCallback.builder().name("builderd_backend_circuit_open")
                .help("1 while a remote backend's circuit breaker is open (requests that need it fail fast with 503), else 0")
                .labelNames("backend")
                .callback(callback -> breakers.forEach(breaker -> callback.call(breaker.state().open() ? 1 : 0, breaker.backendName())))
                .register(registry);
        JvmMetrics.builder().register(registry);
    }

    @FunctionalInterface
    private interface SpaceFigure {
        long of(FileStore store) throws IOException;
    }

    /** A gauge of one figure of each local root's filesystem; a root whose filesystem cannot be read has none (health says why). */
    private static void spaceGauge(PrometheusRegistry registry, List<Path> localRoots, String name, String help, SpaceFigure figure) {
        GaugeWithCallback.builder().name(name).help(help).labelNames("path")
                .callback(callback -> {
                    for (Path root : localRoots) {
                        try {
                            callback.call(figure.of(Files.getFileStore(root)), root.toString());
                        } catch (IOException e) {
                            // No figure for this root.
                        }
                    }
                })
                .register(registry);
    }
}
