package dev.builderd.storage.core;

import dev.builderd.storage.core.metadata.JanitorRows;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.model.JanitorDeletion;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Clock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where the lifecycle janitor's jobs say what they did: each deletion as a row of
 * {@code janitor_deletions}, a log line {@code event=janitor_deleted} and the metrics
 * {@code builderd_janitor_deleted_total} and {@code builderd_janitor_deleted_bytes_total}; each
 * finished run in {@code builderd_janitor_runs_total} and
 * {@code builderd_janitor_last_run_timestamp_seconds}, by job.
 */
final class JanitorLog {

    private static final Logger LOG = LoggerFactory.getLogger(JanitorLog.class);

    /** The janitor's jobs, as the metrics name them. */
    enum Job {
        RETENTION, ORPHANS;

        String label() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    private final MetadataStore metadata;
    private final Clock clock;
    private final Counter deleted;
    private final Counter deletedBytes;
    private final Counter runs;
    private final Gauge lastRun;
    /**
     * One janitor job at a time: a retention run on demand and the scheduled orphan sweep must not
     * meet half-way through a build's delete (its row gone, its files not yet), where the sweep
     * would take the build for an orphan.
     */
    private final java.util.concurrent.locks.ReentrantLock running = new java.util.concurrent.locks.ReentrantLock();

    JanitorLog(MetadataStore metadata, Clock clock, PrometheusRegistry metrics) {
        this.metadata = metadata;
        this.clock = clock;
        this.deleted = Counter.builder().name("builderd_janitor_deleted")
                .help("What the lifecycle janitor deleted, by tenant and kind (build, logs, orphan_build, missing_artifact)")
                .labelNames("tenant_id", "kind").register(metrics);
        this.deletedBytes = Counter.builder().name("builderd_janitor_deleted_bytes")
                .help("Bytes the lifecycle janitor's deletions gave back, by tenant and kind")
                .labelNames("tenant_id", "kind").register(metrics);
        this.runs = Counter.builder().name("builderd_janitor_runs")
                .help("Finished runs of the lifecycle janitor's jobs (retention, orphans), successful or not")
                .labelNames("job", "outcome").register(metrics);
        this.lastRun = Gauge.builder().name("builderd_janitor_last_run_timestamp_seconds")
                .help("When a janitor job last finished a run without failing (Unix time)")
                .labelNames("job").register(metrics);
    }

    /** Runs {@code job} while no other janitor job runs. */
    <T> T exclusively(java.util.function.Supplier<T> job) {
        running.lock();
        try {
            return job.get();
        } finally {
            running.unlock();
        }
    }

    void deleted(JanitorDeletion deletion) {
        metadata.inTransaction(h -> {
            JanitorRows.insert(h, deletion);
            return null;
        });
        String tenant = deletion.build().tenant().value();
        deleted.labelValues(tenant, deletion.kind().wireName()).inc();
        deletedBytes.labelValues(tenant, deletion.kind().wireName()).inc(deletion.bytes());
        LOG.info("event=janitor_deleted tenant={} build={} kind={} item={} bytes={} reason=\"{}\"", tenant,
                deletion.build().build(), deletion.kind().wireName(), deletion.item(), deletion.bytes(), deletion.reason());
    }

    void finished(Job job, boolean ok) {
        runs.labelValues(job.label(), ok ? "ok" : "failed").inc();
        if (ok) {
            lastRun.labelValues(job.label()).set(clock.millis() / 1000.0);
        }
    }
}
