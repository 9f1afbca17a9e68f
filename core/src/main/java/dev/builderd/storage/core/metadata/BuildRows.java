package dev.builderd.storage.core.metadata;

import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildInfo;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.BuildStatus;
import dev.builderd.storage.core.model.TenantId;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.mapper.RowMapper;

/** The {@code builds} table. */
public final class BuildRows {

    private static final RowMapper<BuildInfo> MAPPER = (rs, ctx) -> new BuildInfo(
            new BuildRef(TenantId.of(rs.getString("tenant_id")), BuildId.of(rs.getString("build_id"))),
            BuildStatus.valueOf(rs.getString("status")),
            Optional.ofNullable(rs.getString("failure_reason")),
            Instant.ofEpochMilli(rs.getLong("created_at")),
            optionalInstant(rs, "completed_at"),
            Instant.ofEpochMilli(rs.getLong("lease_expires_at")),
            rs.getBoolean("over_quota"),
            Optional.ofNullable(rs.getString("host_node")));

    private BuildRows() {
    }

    private static Optional<Instant> optionalInstant(ResultSet rs, String column) throws SQLException {
        long millis = rs.getLong(column);
        return rs.wasNull() ? Optional.empty() : Optional.of(Instant.ofEpochMilli(millis));
    }

    public static Optional<BuildInfo> find(Handle h, BuildRef ref) {
        return h.createQuery("SELECT * FROM builds WHERE tenant_id = :t AND build_id = :b")
                .bind("t", ref.tenant().value()).bind("b", ref.build().value()).map(MAPPER).findOne();
    }

    public static List<BuildInfo> ofTenant(Handle h, TenantId tenant) {
        return h.createQuery("SELECT * FROM builds WHERE tenant_id = :t ORDER BY created_at, build_id")
                .bind("t", tenant.value()).map(MAPPER).list();
    }

    /** Finished builds hosted on {@code node} (their directories may still need cleaning there). */
    public static List<BuildInfo> finishedOn(Handle h, String node) {
        return h.createQuery("SELECT * FROM builds WHERE status <> 'ACTIVE' AND host_node = :n ORDER BY tenant_id, build_id")
                .bind("n", node).map(MAPPER).list();
    }

    /** Every active build, of every tenant. */
    public static List<BuildInfo> active(Handle h) {
        return h.createQuery("SELECT * FROM builds WHERE status = 'ACTIVE' ORDER BY tenant_id, build_id").map(MAPPER).list();
    }

    /** Sets or clears the build's over-quota flag; returns whether it changed. */
    public static boolean setOverQuota(Handle h, BuildRef ref, boolean overQuota) {
        return h.createUpdate("UPDATE builds SET over_quota = :o WHERE tenant_id = :t AND build_id = :b AND over_quota <> :o")
                .bind("o", overQuota).bind("t", ref.tenant().value()).bind("b", ref.build().value()).execute() > 0;
    }

    public static int countActive(Handle h, TenantId tenant) {
        return h.createQuery("SELECT COUNT(*) FROM builds WHERE tenant_id = :t AND status = 'ACTIVE'")
                .bind("t", tenant.value()).mapTo(Integer.class).one();
    }

    /** Active builds whose lease ran out before {@code now}, of one tenant or (null) of all. */
    public static List<BuildInfo> expired(Handle h, TenantId tenantOrNull, Instant now) {
        return h.createQuery("SELECT * FROM builds WHERE status = 'ACTIVE' AND lease_expires_at < :now"
                        + (tenantOrNull == null ? "" : " AND tenant_id = :t"))
                .bind("now", now.toEpochMilli()).bind("t", tenantOrNull == null ? null : tenantOrNull.value())
                .map(MAPPER).list();
    }

    /** Inserts an active build hosted on {@code hostNode}. */
    public static void insert(Handle h, BuildRef ref, Instant now, Instant leaseExpires, String hostNode) {
        h.createUpdate("INSERT INTO builds (tenant_id, build_id, status, created_at, lease_expires_at, host_node) "
                        + "VALUES (:t, :b, 'ACTIVE', :now, :lease, :host)")
                .bind("t", ref.tenant().value()).bind("b", ref.build().value()).bind("host", hostNode)
                .bind("now", now.toEpochMilli()).bind("lease", leaseExpires.toEpochMilli()).execute();
    }

    /** Moves an active build to a final status; returns false if it was not active. */
    /** Inserts a build as a backup recorded it, or replaces the build of that ID: for a restore. */
    public static void putAsRecorded(Handle h, BuildInfo build) {
        h.createUpdate("DELETE FROM builds WHERE tenant_id = :t AND build_id = :b")
                .bind("t", build.ref().tenant().value()).bind("b", build.ref().build().value()).execute();
        h.createUpdate("INSERT INTO builds (tenant_id, build_id, status, failure_reason, created_at, completed_at, lease_expires_at) "
                        + "VALUES (:t, :b, :s, :reason, :created, :completed, :lease)")
                .bind("t", build.ref().tenant().value()).bind("b", build.ref().build().value()).bind("s", build.status().name())
                .bind("reason", build.failureReason().orElse(null)).bind("created", build.created().toEpochMilli())
                .bind("completed", build.completed().map(Instant::toEpochMilli).orElse(null))
                .bind("lease", build.leaseExpires().toEpochMilli()).execute();
    }

    public static boolean finish(Handle h, BuildRef ref, BuildStatus status, String reasonOrNull, Instant now) {
        return h.createUpdate("UPDATE builds SET status = :s, failure_reason = :r, completed_at = :now "
                        + "WHERE tenant_id = :t AND build_id = :b AND status = 'ACTIVE'")
                .bind("s", status.name()).bind("r", reasonOrNull).bind("now", now.toEpochMilli())
                .bind("t", ref.tenant().value()).bind("b", ref.build().value()).execute() > 0;
    }

    /** Extends the lease of an active build; returns false if it is not active. */
    public static boolean renewLease(Handle h, BuildRef ref, Instant leaseExpires) {
        return h.createUpdate("UPDATE builds SET lease_expires_at = :lease "
                        + "WHERE tenant_id = :t AND build_id = :b AND status = 'ACTIVE'")
                .bind("lease", leaseExpires.toEpochMilli())
                .bind("t", ref.tenant().value()).bind("b", ref.build().value()).execute() > 0;
    }

    public static boolean delete(Handle h, BuildRef ref) {
        return h.createUpdate("DELETE FROM builds WHERE tenant_id = :t AND build_id = :b")
                .bind("t", ref.tenant().value()).bind("b", ref.build().value()).execute() > 0;
    }
}
