package dev.builderd.storage.core.metadata;

import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.quota.RateLimits;
import java.util.Optional;
import org.jdbi.v3.core.Handle;

/** The {@code tenant_rate_limits} table: per-tenant overrides of the tier's fairness limits. */
public final class RateLimitRows {

    private RateLimitRows() {
    }

    public static RateLimits.Overrides overrides(Handle h, TenantId tenant) {
        return h.createQuery("SELECT * FROM tenant_rate_limits WHERE tenant_id = :t").bind("t", tenant.value())
                .map((rs, ctx) -> new RateLimits.Overrides(QuotaRows.optionalLong(rs.getObject("requests_per_second")),
                        QuotaRows.optionalLong(rs.getObject("bytes_per_second")),
                        Optional.ofNullable(rs.getObject("concurrent_requests")).map(v -> ((Number) v).intValue())))
                .findOne().orElse(RateLimits.Overrides.NONE);
    }

    /** Replaces the tenant's overrides. */
    public static void putOverrides(Handle h, TenantId tenant, RateLimits.Overrides o) {
        h.createUpdate("DELETE FROM tenant_rate_limits WHERE tenant_id = :t").bind("t", tenant.value()).execute();
        h.createUpdate("INSERT INTO tenant_rate_limits (tenant_id, requests_per_second, bytes_per_second, concurrent_requests)"
                        + " VALUES (:t, :rps, :bps, :concurrent)")
                .bind("t", tenant.value())
                .bind("rps", o.requestsPerSecond().isPresent() ? o.requestsPerSecond().getAsLong() : null)
                .bind("bps", o.bytesPerSecond().isPresent() ? o.bytesPerSecond().getAsLong() : null)
                .bind("concurrent", o.concurrentRequests().orElse(null))
                .execute();
    }
}
