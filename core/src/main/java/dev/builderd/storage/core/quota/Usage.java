package dev.builderd.storage.core.quota;

import dev.builderd.storage.core.metadata.QuotaRows;
import dev.builderd.storage.core.model.TenantId;
import java.util.Map;

/**
 * A tenant's usage against its limits, from the ledger (a constant-time read, whatever the
 * number of files).
 *
 * @param state {@code ok}, {@code soft} (at or over the soft limit) or {@code hard} (at or over a hard limit)
 */
public record Usage(TenantId tenant, Limits limits, Map<Category, QuotaRows.Line> lines, String state) {

    public long usedBytes() {
        return lines.values().stream().mapToLong(QuotaRows.Line::used).sum();
    }

    public long reservedBytes() {
        return lines.values().stream().mapToLong(QuotaRows.Line::reserved).sum();
    }

    /** Stored bytes over the total limit (0 when the limit is 0). */
    public double ratio() {
        return limits.totalBytes() == 0 ? 0 : (double) usedBytes() / limits.totalBytes();
    }
}
