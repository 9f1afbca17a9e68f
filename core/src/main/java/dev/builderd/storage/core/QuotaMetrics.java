package dev.builderd.storage.core;

import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.QuotaRows;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.quota.Category;
import dev.builderd.storage.core.quota.Quotas;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.Map;

/**
 * The specification's quota metrics, read from the ledger at scrape time:
 * {@code builderd_storage_usage_bytes{tenant_id,storage_type}} and
 * {@code builderd_storage_quota_usage_ratio{tenant_id}}; plus the limit crossings and the drift
 * that reconciliation repaired.
 */
final class QuotaMetrics {

    private final MetadataStore metadata;
    private final Counter events;
    private final Counter drift;
    private final PrometheusRegistry registry;

    QuotaMetrics(PrometheusRegistry registry, MetadataStore metadata) {
        this.registry = registry;
        this.metadata = metadata;
        this.events = Counter.builder().name("builderd_storage_quota_events")
                .help("Soft and hard quota limit crossings, by the state a tenant entered (ok, soft, hard)")
                .labelNames("tenant_id", "state").register(registry);
        this.drift = Counter.builder().name("builderd_storage_quota_drift_bytes")
                .help("Bytes by which the quota ledger differed from the stores when reconciled (absolute), repaired")
                .labelNames("tenant_id", "storage_type").register(registry);
    }

    /** Registers the gauges, which read {@code quotas}' ledger and limits. */
    void watch(Quotas quotas) {
        GaugeWithCallback.builder().name("builderd_storage_usage_bytes")
                .help("Bytes a tenant stores, by storage type (artifacts, cache, logs, workspace, scratch, metadata)")
                .labelNames("tenant_id", "storage_type")
                .callback(callback -> ledger().forEach((tenant, lines) -> lines.forEach((category, line) ->
                        callback.call(line.used(), tenant, category.wireName()))))
                .register(registry);
        GaugeWithCallback.builder().name("builderd_storage_quota_usage_ratio")
                .help("Bytes a tenant stores over its total limit")
                .labelNames("tenant_id")
                .callback(callback -> ledger().forEach((tenant, lines) -> {
                    try {
                        long limit = metadata.read(h -> quotas.limits(h, TenantId.of(tenant)).totalBytes());
                        long used = lines.values().stream().mapToLong(QuotaRows.Line::used).sum();
                        callback.call(limit == 0 ? 0 : (double) used / limit, tenant);
                    } catch (dev.builderd.storage.core.error.NotFoundException purgedMeanwhile) {
                        // no ratio for a tenant that is gone
                    }
                }))
                .register(registry);
    }

    private Map<String, Map<Category, QuotaRows.Line>> ledger() {
        return metadata.read(QuotaRows::all);
    }

    void crossed(TenantId tenant, String from, String to) {
        events.labelValues(tenant.value(), to).inc();
    }

    void drifted(QuotaReconciliation.Drift found) {
        drift.labelValues(found.tenant().value(), found.category().wireName()).inc(Math.abs(found.bytes()));
    }
}
