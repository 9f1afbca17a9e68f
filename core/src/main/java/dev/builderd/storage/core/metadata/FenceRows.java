package dev.builderd.storage.core.metadata;

import dev.builderd.storage.core.model.TenantId;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import org.jdbi.v3.core.Handle;

/** The {@code tenant_fences} table: tenants refusing writes while a restore on some node rewrites them. */
public final class FenceRows {

    /** A fence: why the tenant refuses writes, and the node whose restore holds it. */
    public record Fence(String reason, String node) {
    }

    private FenceRows() {
    }

    /** Fences the tenant; returns false if it was fenced already (by any node). */
    public static boolean insert(Handle h, TenantId tenant, String reason, String node, long nowMillis) {
        return h.createUpdate("INSERT INTO tenant_fences (tenant_id, reason, node, fenced_at) VALUES (:t, :r, :n, :now)"
                        + " ON CONFLICT (tenant_id) DO NOTHING")
                .bind("t", tenant.value()).bind("r", reason).bind("n", node).bind("now", nowMillis).execute() == 1;
    }

    /** Removes the tenant's fence if {@code node} holds it. */
    public static void delete(Handle h, TenantId tenant, String node) {
        h.createUpdate("DELETE FROM tenant_fences WHERE tenant_id = :t AND node = :n").bind("t", tenant.value()).bind("n", node).execute();
    }

    /** Removes every fence {@code node} holds (its restores died with it); returns how many. */
    public static int deleteOf(Handle h, String node) {
        return h.createUpdate("DELETE FROM tenant_fences WHERE node = :n").bind("n", node).execute();
    }

    public static Optional<Fence> find(Handle h, TenantId tenant) {
        return h.createQuery("SELECT reason, node FROM tenant_fences WHERE tenant_id = :t").bind("t", tenant.value())
                .map((rs, ctx) -> new Fence(rs.getString("reason"), rs.getString("node"))).findOne();
    }

    /** Every fence, by tenant. */
    public static Map<TenantId, Fence> all(Handle h) {
        return h.createQuery("SELECT tenant_id, reason, node FROM tenant_fences")
                .map((rs, ctx) -> Map.entry(TenantId.of(rs.getString("tenant_id")), new Fence(rs.getString("reason"), rs.getString("node"))))
                .list().stream().collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue));
    }
}
