package dev.builderd.storage.core.metadata;

import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.TenantId;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;

/** The {@code cache_entries} table: the index of every tenant's cache entries. */
public final class CacheRows {

    /** An indexed entry. */
    public record Entry(TenantId tenant, String type, String key, long size, long createdAt, long accessedAt) {
    }

    /** The orders in which eviction picks entries. */
    public enum Order {
        /** Least recently used first. */
        LRU("accessed_at, cache_key"),
        /** Oldest first. */
        FIFO("created_at, cache_key"),
        /** Any order. */
        RANDOM("RANDOM()");

        private final String sql;

        Order(String sql) {
            this.sql = sql;
        }
    }

    private CacheRows() {
    }

    private static Entry map(java.sql.ResultSet rs) throws java.sql.SQLException {
        return new Entry(TenantId.of(rs.getString("tenant_id")), rs.getString("cache_type"), rs.getString("cache_key"),
                rs.getLong("size"), rs.getLong("created_at"), rs.getLong("accessed_at"));
    }

    public static Optional<Entry> find(Handle h, TenantId tenant, String type, String key) {
        return h.createQuery("SELECT * FROM cache_entries WHERE tenant_id = :t AND cache_type = :c AND cache_key = :k")
                .bind("t", tenant.value()).bind("c", type).bind("k", key).map((rs, ctx) -> map(rs)).findOne();
    }

    /** Inserts or replaces an entry written now. */
    public static void put(Handle h, TenantId tenant, String type, String key, long size, long now) {
        h.createUpdate("DELETE FROM cache_entries WHERE tenant_id = :t AND cache_type = :c AND cache_key = :k")
                .bind("t", tenant.value()).bind("c", type).bind("k", key).execute();
        h.createUpdate("INSERT INTO cache_entries (tenant_id, cache_type, cache_key, size, created_at, accessed_at)"
                        + " VALUES (:t, :c, :k, :s, :now, :now)")
                .bind("t", tenant.value()).bind("c", type).bind("k", key).bind("s", size).bind("now", now).execute();
    }

    public static boolean delete(Handle h, TenantId tenant, String type, String key) {
        return h.createUpdate("DELETE FROM cache_entries WHERE tenant_id = :t AND cache_type = :c AND cache_key = :k")
                .bind("t", tenant.value()).bind("c", type).bind("k", key).execute() > 0;
    }

    /** Records that an entry was read at {@code at} (never moves the time back). */
    public static void touch(Handle h, TenantId tenant, String type, String key, long at) {
        h.createUpdate("UPDATE cache_entries SET accessed_at = :at WHERE tenant_id = :t AND cache_type = :c AND cache_key = :k"
                        + " AND accessed_at < :at")
                .bind("at", at).bind("t", tenant.value()).bind("c", type).bind("k", key).execute();
    }

    /** Entries pinned by an active build of their tenant are never candidates for eviction. */
    private static final String NOT_PINNED = " AND NOT EXISTS (SELECT 1 FROM cache_pins p JOIN builds b"
            + " ON b.tenant_id = p.tenant_id AND b.build_id = p.build_id AND b.status = 'ACTIVE'"
            + " WHERE p.tenant_id = cache_entries.tenant_id AND p.cache_type = cache_entries.cache_type"
            + " AND p.cache_key = cache_entries.cache_key)";

    /** Pins an entry for a build (idempotent). */
    public static void pin(Handle h, BuildRef build, String type, String key) {
        boolean pinned = h.createQuery("SELECT COUNT(*) FROM cache_pins WHERE tenant_id = :t AND build_id = :b AND cache_type = :c"
                        + " AND cache_key = :k")
                .bind("t", build.tenant().value()).bind("b", build.build().value()).bind("c", type).bind("k", key)
                .mapTo(Long.class).one() > 0;
        if (!pinned) {
            h.createUpdate("INSERT INTO cache_pins (tenant_id, build_id, cache_type, cache_key) VALUES (:t, :b, :c, :k)")
                    .bind("t", build.tenant().value()).bind("b", build.build().value()).bind("c", type).bind("k", key).execute();
        }
    }

    /** Up to {@code limit} unpinned entries of the tenant created before {@code createdBefore}, in eviction order. */
    public static List<Entry> candidates(Handle h, TenantId tenant, Order order, long createdBefore, int limit) {
        return h.createQuery("SELECT * FROM cache_entries WHERE tenant_id = :t AND created_at < :before" + NOT_PINNED
                        + " ORDER BY " + order.sql + " LIMIT :limit")
                .bind("t", tenant.value()).bind("before", createdBefore).bind("limit", limit).map((rs, ctx) -> map(rs)).list();
    }

    /** Unpinned entries of every tenant not read since {@code accessedBefore}. */
    public static List<Entry> unusedSince(Handle h, long accessedBefore, int limit) {
        return h.createQuery("SELECT * FROM cache_entries WHERE accessed_at < :before" + NOT_PINNED
                        + " ORDER BY accessed_at LIMIT :limit")
                .bind("before", accessedBefore).bind("limit", limit).map((rs, ctx) -> map(rs)).list();
    }
}
