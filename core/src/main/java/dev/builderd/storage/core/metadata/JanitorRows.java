package dev.builderd.storage.core.metadata;

import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.JanitorDeletion;
import dev.builderd.storage.core.model.TenantId;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.mapper.RowMapper;

/** The {@code janitor_deletions} table: what the lifecycle janitor deleted. */
public final class JanitorRows {

    private static final RowMapper<JanitorDeletion> MAPPER = (rs, ctx) -> new JanitorDeletion(
            new BuildRef(TenantId.of(rs.getString("tenant_id")), BuildId.of(rs.getString("build_id"))),
            JanitorDeletion.Kind.valueOf(rs.getString("kind").toUpperCase(Locale.ROOT)), rs.getString("item"),
            rs.getString("reason"), rs.getLong("bytes"), Instant.ofEpochMilli(rs.getLong("deleted_at")));

    private JanitorRows() {
    }

    public static void insert(Handle h, JanitorDeletion deletion) {
        String reason = deletion.reason().length() <= 300 ? deletion.reason() : deletion.reason().substring(0, 300);
        h.createUpdate("INSERT INTO janitor_deletions (tenant_id, build_id, kind, item, reason, bytes, deleted_at) "
                        + "VALUES (:t, :b, :k, :i, :r, :bytes, :at)")
                .bind("t", deletion.build().tenant().value()).bind("b", deletion.build().build().value())
                .bind("k", deletion.kind().wireName()).bind("i", deletion.item()).bind("r", reason)
                .bind("bytes", deletion.bytes()).bind("at", deletion.at().toEpochMilli()).execute();
    }

    /** The builds of the tenant whose logs the janitor deleted at or after {@code since}. */
    public static java.util.Set<BuildId> buildsWithLogsDeletedSince(Handle h, TenantId tenant, Instant since) {
        return new java.util.HashSet<>(h.createQuery("SELECT DISTINCT build_id FROM janitor_deletions WHERE tenant_id = :t"
                        + " AND kind = :k AND deleted_at >= :since")
                .bind("t", tenant.value()).bind("k", JanitorDeletion.Kind.LOGS.wireName()).bind("since", since.toEpochMilli())
                .map((rs, ctx) -> BuildId.of(rs.getString("build_id"))).list());
    }

    /** The tenant's latest deletions, newest first. */
    public static List<JanitorDeletion> latest(Handle h, TenantId tenant, int limit) {
        return h.createQuery("SELECT * FROM janitor_deletions WHERE tenant_id = :t "
                        + "ORDER BY deleted_at DESC, build_id, kind, item LIMIT :limit")
                .bind("t", tenant.value()).bind("limit", limit).map(MAPPER).list();
    }
}
