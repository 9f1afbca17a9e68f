package dev.builderd.storage.core.metadata;

import dev.builderd.storage.core.model.ArtifactInfo;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.FileName;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.mapper.RowMapper;

/** The {@code artifacts} table: what a build has published. */
public final class ArtifactRows {

    private static final RowMapper<ArtifactInfo> MAPPER = (rs, ctx) -> new ArtifactInfo(
            FileName.of(rs.getString("name")), rs.getLong("size"), rs.getString("sha256"),
            Instant.ofEpochMilli(rs.getLong("created_at")));

    private ArtifactRows() {
    }

    public static Optional<ArtifactInfo> find(Handle h, BuildRef ref, FileName name) {
        return h.createQuery("SELECT * FROM artifacts WHERE tenant_id = :t AND build_id = :b AND name = :n")
                .bind("t", ref.tenant().value()).bind("b", ref.build().value()).bind("n", name.value())
                .map(MAPPER).findOne();
    }

    public static List<ArtifactInfo> ofBuild(Handle h, BuildRef ref) {
        return h.createQuery("SELECT * FROM artifacts WHERE tenant_id = :t AND build_id = :b ORDER BY name")
                .bind("t", ref.tenant().value()).bind("b", ref.build().value()).map(MAPPER).list();
    }

    /** Every artifact row of the tenant, by build, each build's by name: one query for a whole tenant. */
    public static java.util.Map<dev.builderd.storage.core.model.BuildId, List<ArtifactInfo>> ofTenant(Handle h,
            dev.builderd.storage.core.model.TenantId tenant) {
        java.util.Map<dev.builderd.storage.core.model.BuildId, List<ArtifactInfo>> rows = new java.util.HashMap<>();
        h.createQuery("SELECT * FROM artifacts WHERE tenant_id = :t ORDER BY build_id, name").bind("t", tenant.value())
                .map((rs, ctx) -> rows.computeIfAbsent(dev.builderd.storage.core.model.BuildId.of(rs.getString("build_id")),
                        build -> new java.util.ArrayList<>()).add(MAPPER.map(rs, ctx))).list();
        return rows;
    }

    public static void upsert(Handle h, BuildRef ref, ArtifactInfo artifact) {
        h.createUpdate("DELETE FROM artifacts WHERE tenant_id = :t AND build_id = :b AND name = :n")
                .bind("t", ref.tenant().value()).bind("b", ref.build().value()).bind("n", artifact.name().value())
                .execute();
        h.createUpdate("INSERT INTO artifacts (tenant_id, build_id, name, size, sha256, created_at) "
                        + "VALUES (:t, :b, :n, :size, :sha, :created)")
                .bind("t", ref.tenant().value()).bind("b", ref.build().value()).bind("n", artifact.name().value())
                .bind("size", artifact.size()).bind("sha", artifact.sha256())
                .bind("created", artifact.created().toEpochMilli()).execute();
    }

    /** An artifact with the build it belongs to. */
    public record Stored(BuildRef build, ArtifactInfo artifact) {
    }

    /**
     * Up to {@code limit} artifacts of every tenant after {@code after} (null: from the first), in
     * (tenant, build, name) order: a walk over all of them a page at a time.
     */
    public static List<Stored> page(Handle h, Stored after, int limit) {
        String where = after == null ? "" : " WHERE (tenant_id > :t) OR (tenant_id = :t AND build_id > :b)"
                + " OR (tenant_id = :t AND build_id = :b AND name > :n)";
        var query = h.createQuery("SELECT * FROM artifacts" + where + " ORDER BY tenant_id, build_id, name LIMIT :limit")
                .bind("limit", limit);
        if (after != null) {
            query.bind("t", after.build().tenant().value()).bind("b", after.build().build().value())
                    .bind("n", after.artifact().name().value());
        }
        return query.map((rs, ctx) -> new Stored(new BuildRef(dev.builderd.storage.core.model.TenantId.of(rs.getString("tenant_id")),
                dev.builderd.storage.core.model.BuildId.of(rs.getString("build_id"))), MAPPER.map(rs, ctx))).list();
    }

    /** The bytes of every artifact of the tenant. */
    public static long bytesOfTenant(Handle h, dev.builderd.storage.core.model.TenantId tenant) {
        return h.createQuery("SELECT COALESCE(SUM(size), 0) FROM artifacts WHERE tenant_id = :t").bind("t", tenant.value())
                .mapTo(Long.class).one();
    }

    public static boolean delete(Handle h, BuildRef ref, FileName name) {
        return h.createUpdate("DELETE FROM artifacts WHERE tenant_id = :t AND build_id = :b AND name = :n")
                .bind("t", ref.tenant().value()).bind("b", ref.build().value()).bind("n", name.value())
                .execute() > 0;
    }
}
