package dev.builderd.storage.core.metadata;

import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.quota.Category;
import java.util.EnumMap;
import java.util.Map;
import org.jdbi.v3.core.Handle;

/** The {@code scanned_usage} table: each node's measurement of the directories of the builds it hosts. */
public final class ScannedUsageRows {

    private ScannedUsageRows() {
    }

    /** Records what {@code node} measured of the tenant's builds it hosts, category by category. */
    public static void put(Handle h, TenantId tenant, String node, Map<Category, Long> bytes) {
        bytes.forEach((category, value) -> h.createUpdate("""
                        INSERT INTO scanned_usage (tenant_id, node, category, bytes) VALUES (:t, :n, :c, :b)
                        ON CONFLICT (tenant_id, node, category) DO UPDATE SET bytes = EXCLUDED.bytes
                        """).bind("t", tenant.value()).bind("n", node).bind("c", category.name()).bind("b", value).execute());
    }

    /**
     * Forgets the measurements of other nodes that host no active build of the tenant any more
     * (their builds finished, or were reaped after their node died): a scan counts active builds only.
     */
    public static void forgetIdleNodes(Handle h, TenantId tenant, String node) {
        h.createUpdate("""
                DELETE FROM scanned_usage WHERE tenant_id = :t AND node <> :n AND node NOT IN (
                    SELECT host_node FROM builds WHERE tenant_id = :t AND status = 'ACTIVE' AND host_node IS NOT NULL)
                """).bind("t", tenant.value()).bind("n", node).execute();
    }

    /** What this node measured last, by category (absent: nothing recorded). */
    public static Map<Category, Long> of(Handle h, TenantId tenant, String node) {
        Map<Category, Long> bytes = new EnumMap<>(Category.class);
        h.createQuery("SELECT category, bytes FROM scanned_usage WHERE tenant_id = :t AND node = :n")
                .bind("t", tenant.value()).bind("n", node)
                .map((rs, ctx) -> Map.entry(Category.valueOf(rs.getString("category")), rs.getLong("bytes")))
                .forEach(entry -> bytes.put(entry.getKey(), entry.getValue()));
        return bytes;
    }

    /** The sum over every node, by category (zero where none measured anything). */
    public static Map<Category, Long> total(Handle h, TenantId tenant) {
        Map<Category, Long> bytes = new EnumMap<>(Category.class);
        h.createQuery("SELECT category, SUM(bytes) AS bytes FROM scanned_usage WHERE tenant_id = :t GROUP BY category")
                .bind("t", tenant.value())
                .map((rs, ctx) -> Map.entry(Category.valueOf(rs.getString("category")), rs.getLong("bytes")))
                .forEach(entry -> bytes.put(entry.getKey(), entry.getValue()));
        return bytes;
    }
}
