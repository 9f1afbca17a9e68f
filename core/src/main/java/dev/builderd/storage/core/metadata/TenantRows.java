package dev.builderd.storage.core.metadata;

import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.TenantInfo;
import dev.builderd.storage.core.model.Tier;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.mapper.RowMapper;

/** The {@code tenants} table. */
public final class TenantRows {

    private static final RowMapper<TenantInfo> MAPPER = (rs, ctx) -> new TenantInfo(
            TenantId.of(rs.getString("tenant_id")), Tier.parse(rs.getString("tier")), rs.getBoolean("encryption"),
            Instant.ofEpochMilli(rs.getLong("created_at")), Instant.ofEpochMilli(rs.getLong("updated_at")));

    private TenantRows() {
    }

    public static Optional<TenantInfo> find(Handle h, TenantId id) {
        return find(h, id, "");
    }

    /** The tenant's row, read with {@code lockClause} appended (a row lock, or nothing). */
    static Optional<TenantInfo> find(Handle h, TenantId id, String lockClause) {
        return h.createQuery("SELECT * FROM tenants WHERE tenant_id = :id" + lockClause).bind("id", id.value()).map(MAPPER).findOne();
    }

    public static List<TenantInfo> all(Handle h) {
        return h.createQuery("SELECT * FROM tenants ORDER BY tenant_id").map(MAPPER).list();
    }

    /** Inserts or updates; returns true if the tenant was created. */
    public static boolean upsert(Handle h, TenantId id, Tier tier, boolean encryption, Instant now) {
        int updated = h.createUpdate("UPDATE tenants SET tier = :tier, encryption = :enc, updated_at = :now WHERE tenant_id = :id")
                .bind("id", id.value()).bind("tier", tier.wireName()).bind("enc", encryption).bind("now", now.toEpochMilli())
                .execute();
        if (updated > 0) {
            return false;
        }
        h.createUpdate("INSERT INTO tenants (tenant_id, tier, encryption, created_at, updated_at) VALUES (:id, :tier, :enc, :now, :now)")
                .bind("id", id.value()).bind("tier", tier.wireName()).bind("enc", encryption).bind("now", now.toEpochMilli())
                .execute();
        return true;
    }

    public static boolean delete(Handle h, TenantId id) {
        return h.createUpdate("DELETE FROM tenants WHERE tenant_id = :id").bind("id", id.value()).execute() > 0;
    }
}
