package dev.builderd.storage.core.metadata;

import dev.builderd.storage.core.model.TenantId;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;

/** The {@code scrub_findings} table: blobs the integrity scrub found damaged. */
public final class ScrubRows {

    /** A damaged blob: whose (empty: the global registry cache's), where, what was wrong, when it was found. */
    public record Finding(Optional<TenantId> tenant, String blobKey, String problem, Instant foundAt) {

        /** The tenant as a metric label: {@code _global} for the global registry cache (no tenant ID has an underscore). */
        public String owner() {
            return tenant.map(TenantId::value).orElse("_global");
        }
    }

    private ScrubRows() {
    }

    /** Records a finding (replacing an older one of the same blob). */
    public static void record(Handle h, Finding finding) {
        forget(h, finding.blobKey());
        h.createUpdate("INSERT INTO scrub_findings (tenant_id, blob_key, problem, found_at) VALUES (:t, :k, :p, :at)")
                .bind("t", finding.tenant().map(TenantId::value).orElse(null)).bind("k", finding.blobKey())
                .bind("p", finding.problem().length() > 1000 ? finding.problem().substring(0, 1000) : finding.problem())
                .bind("at", finding.foundAt().toEpochMilli()).execute();
    }

    /** Drops the finding of a blob that reads whole again, or is gone. */
    public static void forget(Handle h, String blobKey) {
        h.createUpdate("DELETE FROM scrub_findings WHERE blob_key = :k").bind("k", blobKey).execute();
    }

    public static List<Finding> all(Handle h) {
        return h.createQuery("SELECT * FROM scrub_findings ORDER BY tenant_id, blob_key")
                .map((rs, ctx) -> new Finding(Optional.ofNullable(rs.getString("tenant_id")).map(TenantId::of), rs.getString("blob_key"), rs.getString("problem"),
                        Instant.ofEpochMilli(rs.getLong("found_at")))).list();
    }
}
