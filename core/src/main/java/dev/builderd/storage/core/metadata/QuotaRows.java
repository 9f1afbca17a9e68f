package dev.builderd.storage.core.metadata;

import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.quota.Category;
import dev.builderd.storage.core.quota.HardLimitAction;
import dev.builderd.storage.core.quota.Limits;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import org.jdbi.v3.core.Handle;

/** The quota tables: the ledger, the reservations in flight, per-tenant limit overrides and state. */
public final class QuotaRows {

    /** One ledger line: bytes stored, and bytes held by uploads in flight. */
    public record Line(long used, long reserved) {
        public static final Line EMPTY = new Line(0, 0);

        public long total() {
            return used + reserved;
        }
    }

    /** A reservation as stored. */
    public record ReservationRow(String id, TenantId tenant, Category category, long bytes) {
    }

    private QuotaRows() {
    }

    /** The tenant's ledger, every category present (zero where it has no line). */
    public static Map<Category, Line> ledger(Handle h, TenantId tenant) {
        Map<Category, Line> lines = new EnumMap<>(Category.class);
        for (Category category : Category.values()) {
            lines.put(category, Line.EMPTY);
        }
        h.createQuery("SELECT category, used_bytes, reserved_bytes FROM quota_ledger WHERE tenant_id = :t")
                .bind("t", tenant.value())
                .map((rs, ctx) -> Map.entry(Category.parse(rs.getString("category")),
                        new Line(rs.getLong("used_bytes"), rs.getLong("reserved_bytes"))))
                .forEach(entry -> lines.put(entry.getKey(), entry.getValue()));
        return lines;
    }

    /** Every tenant's ledger lines (for metrics). */
    public static Map<String, Map<Category, Line>> all(Handle h) {
        Map<String, Map<Category, Line>> result = new java.util.TreeMap<>();
        h.createQuery("SELECT tenant_id, category, used_bytes, reserved_bytes FROM quota_ledger").map((rs, ctx) -> {
            result.computeIfAbsent(rs.getString("tenant_id"), t -> new EnumMap<>(Category.class))
                    .put(Category.parse(rs.getString("category")), new Line(rs.getLong("used_bytes"), rs.getLong("reserved_bytes")));
            return 0;
        }).list();
        return result;
    }

    /** Adds {@code usedDelta} and {@code reservedDelta} to a line (creating it); used never goes below zero. */
    public static void add(Handle h, TenantId tenant, Category category, long usedDelta, long reservedDelta) {
        int updated = h.createUpdate("UPDATE quota_ledger SET used_bytes = CASE WHEN used_bytes + :u < 0 THEN 0 ELSE used_bytes + :u END,"
                        + " reserved_bytes = CASE WHEN reserved_bytes + :r < 0 THEN 0 ELSE reserved_bytes + :r END"
                        + " WHERE tenant_id = :t AND category = :c")
                .bind("u", usedDelta).bind("r", reservedDelta).bind("t", tenant.value()).bind("c", category.wireName())
                .execute();
        if (updated == 0) {
            h.createUpdate("INSERT INTO quota_ledger (tenant_id, category, used_bytes, reserved_bytes) VALUES (:t, :c, :u, :r)")
                    .bind("t", tenant.value()).bind("c", category.wireName())
                    .bind("u", Math.max(0, usedDelta)).bind("r", Math.max(0, reservedDelta)).execute();
        }
    }

    /** Sets a line's used bytes (reconciliation, the scanner); returns the previous value. */
    public static long setUsed(Handle h, TenantId tenant, Category category, long used) {
        long before = ledger(h, tenant).get(category).used();
        add(h, tenant, category, used - before, 0);
        return before;
    }

    public static void insertReservation(Handle h, ReservationRow row, String holder, long expiresAt) {
        h.createUpdate("INSERT INTO quota_reservations (reservation_id, tenant_id, category, bytes, holder, expires_at)"
                        + " VALUES (:id, :t, :c, :b, :holder, :exp)")
                .bind("id", row.id()).bind("t", row.tenant().value()).bind("c", row.category().wireName()).bind("b", row.bytes())
                .bind("holder", holder).bind("exp", expiresAt).execute();
    }

    public static void growReservation(Handle h, String id, long more, long expiresAt) {
        h.createUpdate("UPDATE quota_reservations SET bytes = bytes + :more, expires_at = :exp WHERE reservation_id = :id")
                .bind("more", more).bind("exp", expiresAt).bind("id", id).execute();
    }

    /** Deletes the reservation; returns its bytes, or empty if it was already gone (swept). */
    public static OptionalLong deleteReservation(Handle h, String id) {
        Optional<Long> bytes = h.createQuery("DELETE FROM quota_reservations WHERE reservation_id = :id RETURNING bytes")
                .bind("id", id).mapTo(Long.class).findOne();
        return bytes.map(OptionalLong::of).orElse(OptionalLong.empty());
    }

    /** Reservations that {@code holder} left (it restarted), or whose lease ended before {@code now} (a node died). */
    public static List<ReservationRow> stale(Handle h, String holder, long now) {
        return h.createQuery("SELECT * FROM quota_reservations WHERE holder = :holder OR expires_at < :now")
                .bind("holder", holder).bind("now", now)
                .map((rs, ctx) -> new ReservationRow(rs.getString("reservation_id"), TenantId.of(rs.getString("tenant_id")),
                        Category.parse(rs.getString("category")), rs.getLong("bytes")))
                .list();
    }

    /** Whether reservations of this tenant and category are in flight. */
    public static boolean hasReservations(Handle h, TenantId tenant, Category category) {
        return h.createQuery("SELECT COUNT(*) FROM quota_reservations WHERE tenant_id = :t AND category = :c")
                .bind("t", tenant.value()).bind("c", category.wireName()).mapTo(Long.class).one() > 0;
    }

    public static Limits.Overrides overrides(Handle h, TenantId tenant) {
        return h.createQuery("SELECT * FROM tenant_limits WHERE tenant_id = :t").bind("t", tenant.value())
                .map((rs, ctx) -> new Limits.Overrides(optionalLong(rs.getObject("total_bytes")),
                        optionalLong(rs.getObject("artifact_bytes")), optionalLong(rs.getObject("cache_bytes")),
                        Optional.ofNullable(rs.getObject("concurrent_builds")).map(v -> ((Number) v).intValue()),
                        Optional.ofNullable(rs.getObject("soft_limit_percent")).map(v -> ((Number) v).intValue()),
                        Optional.ofNullable(rs.getString("hard_limit_action")).map(HardLimitAction::parse)))
                .findOne().orElse(Limits.Overrides.NONE);
    }

    /** A nullable numeric column as an {@code OptionalLong}. */
    static OptionalLong optionalLong(Object value) {
        return value == null ? OptionalLong.empty() : OptionalLong.of(((Number) value).longValue());
    }

    public static void putOverrides(Handle h, TenantId tenant, Limits.Overrides o) {
        h.createUpdate("DELETE FROM tenant_limits WHERE tenant_id = :t").bind("t", tenant.value()).execute();
        h.createUpdate("INSERT INTO tenant_limits (tenant_id, total_bytes, artifact_bytes, cache_bytes, concurrent_builds,"
                        + " soft_limit_percent, hard_limit_action) VALUES (:t, :total, :art, :cache, :builds, :soft, :action)")
                .bind("t", tenant.value())
                .bind("total", o.totalBytes().isPresent() ? o.totalBytes().getAsLong() : null)
                .bind("art", o.artifactBytes().isPresent() ? o.artifactBytes().getAsLong() : null)
                .bind("cache", o.cacheBytes().isPresent() ? o.cacheBytes().getAsLong() : null)
                .bind("builds", o.concurrentBuilds().orElse(null))
                .bind("soft", o.softPercent().orElse(null))
                .bind("action", o.action().map(HardLimitAction::wireName).orElse(null))
                .execute();
    }

    public static String state(Handle h, TenantId tenant) {
        return h.createQuery("SELECT quota_state FROM tenants WHERE tenant_id = :t").bind("t", tenant.value())
                .mapTo(String.class).findOne().orElse("ok");
    }

    public static void setState(Handle h, TenantId tenant, String state) {
        h.createUpdate("UPDATE tenants SET quota_state = :s WHERE tenant_id = :t").bind("s", state).bind("t", tenant.value()).execute();
    }
}
