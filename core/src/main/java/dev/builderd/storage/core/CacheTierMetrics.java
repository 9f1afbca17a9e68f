package dev.builderd.storage.core;

import dev.builderd.storage.blob.TieredBlobStore;
import dev.builderd.storage.blob.TieredBlobStore.TierStats;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.stream.Stream;

/**
 * The caches' tiers as metrics, read from {@link TieredBlobStore#stats()} at scrape time, labelled
 * by tier ({@code memory}, {@code disk}, {@code remote}) only: never by key or tenant.
 * {@code builderd_cache_tier_requests_total{tier,result}} counts reads by what the tier did with
 * them ({@code hit}, {@code miss}, {@code degraded}: it failed or was too slow);
 * {@code builderd_cache_tier_hit_ratio{tier}} the hits over them;
 * {@code builderd_cache_tier_fills_total{tier}} the blobs copied into a faster tier;
 * {@code builderd_cache_tier_size_bytes{tier}} and {@code builderd_cache_tier_max_bytes{tier}} what a
 * local tier holds against its bound.
 */
final class CacheTierMetrics {

    private CacheTierMetrics() {
    }

    static void register(PrometheusRegistry registry, TieredBlobStore tiers) {
        CounterWithCallback.builder().name("builderd_cache_tier_requests")
                .help("Cache reads by tier and by what the tier did: hit, miss, or degraded (failed or too slow)")
                .labelNames("tier", "result")
                .callback(callback -> tiers.stats().forEach(tier -> {
                    callback.call(tier.hits(), tier.tier().label(), "hit");
                    callback.call(tier.misses(), tier.tier().label(), "miss");
                    callback.call(tier.degraded(), tier.tier().label(), "degraded");
                }))
                .register(registry);
        GaugeWithCallback.builder().name("builderd_cache_tier_hit_ratio")
                .help("Hits over reads that reached a cache tier since the daemon started (degraded reads count as reads)")
                .labelNames("tier")
                .callback(callback -> tiers.stats().forEach(tier -> {
                    double reads = tier.hits() + tier.misses() + tier.degraded();
                    callback.call(reads == 0 ? 0 : tier.hits() / reads, tier.tier().label());
                }))
                .register(registry);
        CounterWithCallback.builder().name("builderd_cache_tier_fills")
                .help("Cache blobs copied into a faster tier, whole")
                .labelNames("tier")
                .callback(callback -> local(tiers).forEach(tier -> callback.call(tier.fills(), tier.tier().label())))
                .register(registry);
        GaugeWithCallback.builder().name("builderd_cache_tier_size_bytes")
                .help("Bytes a local cache tier holds")
                .labelNames("tier")
                .callback(callback -> local(tiers).forEach(tier -> callback.call(tier.sizeBytes(), tier.tier().label())))
                .register(registry);
        GaugeWithCallback.builder().name("builderd_cache_tier_max_bytes")
                .help("Bytes a local cache tier may hold")
                .labelNames("tier")
                .callback(callback -> local(tiers).forEach(tier -> callback.call(tier.maxBytes(), tier.tier().label())))
                .register(registry);
    }

    /** The memory and disk tiers: the remote is filled by no one and its size is not tracked. */
    private static Stream<TierStats> local(TieredBlobStore tiers) {
        return tiers.stats().stream().filter(tier -> tier.tier() != TieredBlobStore.Tier.REMOTE);
    }
}
