package dev.builderd.storage.core.metadata;

import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.TenantId;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
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

        /** The order named {@code lru}, {@code fifo} or {@code random}. */
        public static Order parse(String name) {
            for (Order order : values()) {
                if (order.name().equalsIgnoreCase(name)) {
                    return order;
                }
            }
            throw new InvalidInputException("eviction policy '" + String.valueOf(name).replaceAll("\\p{Cntrl}", "?")
                    + "' is unknown: use lru, fifo or random");
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

    /** Inserts or replaces an entry written now, keeping its type's running total in step. */
    public static void put(Handle h, TenantId tenant, String type, String key, long size, long now) {
        Optional<Entry> replaced = remove(h, tenant, type, key);
        h.createUpdate("INSERT INTO cache_entries (tenant_id, cache_type, cache_key, size, created_at, accessed_at)"
                        + " VALUES (:t, :c, :k, :s, :now, :now)")
                .bind("t", tenant.value()).bind("c", type).bind("k", key).bind("s", size).bind("now", now).execute();
        addUsage(h, tenant, type, size - replaced.map(Entry::size).orElse(0L), replaced.isPresent() ? 0 : 1);
    }

    /** Removes an entry and its bytes from its type's running total; false if it was not indexed. */
    public static boolean delete(Handle h, TenantId tenant, String type, String key) {
        Optional<Entry> removed = remove(h, tenant, type, key);
        removed.ifPresent(entry -> addUsage(h, tenant, type, -entry.size(), -1));
        return removed.isPresent();
    }

    /** Deletes an entry's row, in one statement, leaving the running total to the caller; returns what it was. */
    private static Optional<Entry> remove(Handle h, TenantId tenant, String type, String key) {
        return h.createQuery("DELETE FROM cache_entries WHERE tenant_id = :t AND cache_type = :c AND cache_key = :k RETURNING *")
                .bind("t", tenant.value()).bind("c", type).bind("k", key).map((rs, ctx) -> map(rs)).findOne();
    }

    /**
     * Removes the indexed entries among {@code keys} of one tenant's cache type in one statement,
     * with their bytes from the type's running total; returns the entries removed.
     */
    public static List<Entry> deleteAll(Handle h, TenantId tenant, String type, List<String> keys) {
        if (keys.isEmpty()) {
            return List.of();
        }
        List<Entry> removed = h.createQuery("DELETE FROM cache_entries WHERE tenant_id = :t AND cache_type = :c AND cache_key IN (<keys>)"
                        + " RETURNING *")
                .bind("t", tenant.value()).bind("c", type).bindList("keys", keys).map((rs, ctx) -> map(rs)).list();
        addUsage(h, tenant, type, -removed.stream().mapToLong(Entry::size).sum(), -removed.size());
        return removed;
    }

    private static void addUsage(Handle h, TenantId tenant, String type, long bytes, long entries) {
        int updated = h.createUpdate("UPDATE cache_usage SET bytes = bytes + :b, entries = entries + :n"
                        + " WHERE tenant_id = :t AND cache_type = :c")
                .bind("b", bytes).bind("n", entries).bind("t", tenant.value()).bind("c", type).execute();
        if (updated == 0) {
            h.createUpdate("INSERT INTO cache_usage (tenant_id, cache_type, bytes, entries) VALUES (:t, :c, :b, :n)")
                    .bind("b", bytes).bind("n", entries).bind("t", tenant.value()).bind("c", type).execute();
        }
    }

    /** The bytes and entries of one tenant's cache type. */
    public record TypeUsage(long bytes, long entries) {
        public static final TypeUsage EMPTY = new TypeUsage(0, 0);
    }

    public static TypeUsage usage(Handle h, TenantId tenant, String type) {
        return h.createQuery("SELECT bytes, entries FROM cache_usage WHERE tenant_id = :t AND cache_type = :c")
                .bind("t", tenant.value()).bind("c", type)
                .map((rs, ctx) -> new TypeUsage(rs.getLong("bytes"), rs.getLong("entries"))).findOne().orElse(TypeUsage.EMPTY);
    }

    /** The usage of each cache type of one tenant that holds entries. */
    public static Map<String, TypeUsage> usageOf(Handle h, TenantId tenant) {
        Map<String, TypeUsage> types = new TreeMap<>();
        h.createQuery("SELECT cache_type, bytes, entries FROM cache_usage WHERE tenant_id = :t AND entries > 0").bind("t", tenant.value())
                .map((rs, ctx) -> {
                    types.put(rs.getString("cache_type"), new TypeUsage(rs.getLong("bytes"), rs.getLong("entries")));
                    return types;
                }).list();
        return types;
    }

    /** Every (tenant, cache type) that holds entries, with its usage. */
    public static Map<TenantId, Map<String, TypeUsage>> usageOfAll(Handle h) {
        Map<TenantId, Map<String, TypeUsage>> all = new TreeMap<>(Comparator.comparing(TenantId::value));
        h.createQuery("SELECT tenant_id, cache_type, bytes, entries FROM cache_usage WHERE entries > 0").map((rs, ctx) -> {
            all.computeIfAbsent(TenantId.of(rs.getString("tenant_id")), t -> new TreeMap<>())
                    .put(rs.getString("cache_type"), new TypeUsage(rs.getLong("bytes"), rs.getLong("entries")));
            return all;
        }).list();
        return all;
    }

    // ---------------------------------------------------------------- policies set by the operator

    /**
     * What the operator set for one tenant's cache type; an empty field takes the daemon's default.
     * Durations are in seconds.
     */
    public record PolicyRow(Optional<Long> maxSizeBytes, Optional<Order> order, Optional<Long> minRetentionSeconds,
            Optional<Long> maxRetentionSeconds) {
        public static final PolicyRow NONE = new PolicyRow(Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty());
    }

    /** What the operator set for each cache type of a tenant, by type; types not set are absent. */
    public static Map<String, PolicyRow> policies(Handle h, TenantId tenant) {
        Map<String, PolicyRow> rows = new TreeMap<>();
        h.createQuery("SELECT * FROM cache_policies WHERE tenant_id = :t").bind("t", tenant.value()).map((rs, ctx) -> {
            rows.put(rs.getString("cache_type"), new PolicyRow(
                    optionalLong(rs, "max_size_bytes"),
                    Optional.ofNullable(rs.getString("eviction_policy")).map(Order::valueOf),
                    optionalLong(rs, "min_retention_seconds"),
                    optionalLong(rs, "max_retention_seconds")));
            return rows;
        }).list();
        return rows;
    }

    private static Optional<Long> optionalLong(java.sql.ResultSet rs, String column) throws java.sql.SQLException {
        long value = rs.getLong(column);
        return rs.wasNull() ? Optional.empty() : Optional.of(value);
    }

    /** Replaces what the operator set for a tenant's cache type. */
    public static void setPolicy(Handle h, TenantId tenant, String type, PolicyRow row) {
        h.createUpdate("DELETE FROM cache_policies WHERE tenant_id = :t AND cache_type = :c")
                .bind("t", tenant.value()).bind("c", type).execute();
        h.createUpdate("INSERT INTO cache_policies (tenant_id, cache_type, max_size_bytes, eviction_policy, min_retention_seconds,"
                        + " max_retention_seconds) VALUES (:t, :c, :max, :order, :min, :keep)")
                .bind("t", tenant.value()).bind("c", type)
                .bind("max", row.maxSizeBytes().orElse(null))
                .bind("order", row.order().map(Order::name).orElse(null))
                .bind("min", row.minRetentionSeconds().orElse(null))
                .bind("keep", row.maxRetentionSeconds().orElse(null)).execute();
    }

    /** Records that an entry was read at {@code at} (never moves the time back). */
    public static void touch(Handle h, TenantId tenant, String type, String key, long at) {
        h.createUpdate("UPDATE cache_entries SET accessed_at = :at WHERE tenant_id = :t AND cache_type = :c AND cache_key = :k"
                        + " AND accessed_at < :at")
                .bind("at", at).bind("t", tenant.value()).bind("c", type).bind("k", key).execute();
    }

    /** Up to {@code limit} keys of a tenant's cache type after {@code after} ("" for the first), in key order. */
    public static List<String> keys(Handle h, TenantId tenant, String type, String after, int limit) {
        return h.createQuery("SELECT cache_key FROM cache_entries WHERE tenant_id = :t AND cache_type = :c AND cache_key > :after"
                        + " ORDER BY cache_key LIMIT :limit")
                .bind("t", tenant.value()).bind("c", type).bind("after", after).bind("limit", limit).mapTo(String.class).list();
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

    /** Up to {@code limit} unpinned entries of a tenant's cache type created before {@code createdBefore}, in eviction order. */
    public static List<Entry> candidates(Handle h, TenantId tenant, String type, Order order, long createdBefore, int limit) {
        // Outside fifo, "+created_at" keeps SQLite from searching the age index for the minimum
        // retention's bound: it then sorted every entry of the type for each page (~0.1 s a page at
        // 200,000 entries, quadratic over an eviction of all) instead of walking the access index
        // and stopping at the limit.
        String young = order == Order.FIFO ? "created_at" : "+created_at";
        return h.createQuery("SELECT * FROM cache_entries WHERE tenant_id = :t AND cache_type = :c AND " + young + " < :before"
                        + NOT_PINNED + " ORDER BY " + order.sql + " LIMIT :limit")
                .bind("t", tenant.value()).bind("c", type).bind("before", createdBefore).bind("limit", limit)
                .map((rs, ctx) -> map(rs)).list();
    }

    /** Unpinned entries of a tenant's cache type not read since {@code accessedBefore}. */
    public static List<Entry> unusedSince(Handle h, TenantId tenant, String type, long accessedBefore, int limit) {
        return h.createQuery("SELECT * FROM cache_entries WHERE tenant_id = :t AND cache_type = :c AND accessed_at < :before"
                        + NOT_PINNED + " ORDER BY accessed_at LIMIT :limit")
                .bind("t", tenant.value()).bind("c", type).bind("before", accessedBefore).bind("limit", limit)
                .map((rs, ctx) -> map(rs)).list();
    }
}
