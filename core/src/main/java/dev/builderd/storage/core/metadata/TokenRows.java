package dev.builderd.storage.core.metadata;

import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.Principal.Scope;
import dev.builderd.storage.core.model.TenantId;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import org.jdbi.v3.core.Handle;

/**
 * The {@code tokens} table: tenant tokens, stored as SHA-256 hashes only. A build token's row is
 * deleted with its build (a cascading foreign key).
 */
public final class TokenRows {

    /** A token as stored: everything but its secret, which is never kept. */
    public record TokenRow(String tokenId, TenantId tenant, String tokenHash, Scope scope, Optional<BuildId> build,
            Instant created, Optional<Instant> expires, Optional<Instant> revoked) {

        @Override
        public String toString() {
            return "TokenRow[" + tokenId + " of " + tenant + "]";
        }
    }

    private static final String COLUMNS = "token_id, tenant_id, token_hash, scope, build_id, created_at, expires_at, revoked_at";

    private TokenRows() {
    }

    public static void insert(Handle h, TokenRow row) {
        h.createUpdate("INSERT INTO tokens (" + COLUMNS + ") VALUES (:id, :t, :hash, :scope, :build, :created, :expires, NULL)")
                .bind("id", row.tokenId()).bind("t", row.tenant().value()).bind("hash", row.tokenHash())
                .bind("scope", row.scope().wireName()).bind("build", row.build().map(BuildId::value).orElse(null))
                .bind("created", row.created().toEpochMilli())
                .bind("expires", row.expires().map(Instant::toEpochMilli).orElse(null))
                .execute();
    }

    /** The token of this ID, live or not. */
    public static Optional<TokenRow> find(Handle h, String tokenId) {
        return h.createQuery("SELECT " + COLUMNS + " FROM tokens WHERE token_id = :id")
                .bind("id", tokenId).map((rs, ctx) -> row(rs)).findOne();
    }

    /** The tenant's tokens, revoked and expired ones included, oldest first. */
    public static List<TokenRow> ofTenant(Handle h, TenantId tenant) {
        return h.createQuery("SELECT " + COLUMNS + " FROM tokens WHERE tenant_id = :t ORDER BY created_at, token_id")
                .bind("t", tenant.value()).map((rs, ctx) -> row(rs)).list();
    }

    /** Revokes a token of {@code tenant}; returns false if there is no such live token. */
    public static boolean revoke(Handle h, TenantId tenant, String tokenId, Instant now) {
        return h.createUpdate("UPDATE tokens SET revoked_at = :now WHERE token_id = :id AND tenant_id = :t AND revoked_at IS NULL")
                .bind("now", now.toEpochMilli()).bind("id", tokenId).bind("t", tenant.value()).execute() > 0;
    }

    private static TokenRow row(ResultSet rs) throws SQLException {
        return new TokenRow(rs.getString("token_id"), TenantId.of(rs.getString("tenant_id")), rs.getString("token_hash"),
                Scope.parse(rs.getString("scope").toLowerCase(Locale.ROOT)),
                Optional.ofNullable(rs.getString("build_id")).map(BuildId::of),
                Instant.ofEpochMilli(rs.getLong("created_at")), instant(rs, "expires_at"), instant(rs, "revoked_at"));
    }

    private static Optional<Instant> instant(ResultSet rs, String column) throws SQLException {
        long millis = rs.getLong(column);
        return rs.wasNull() ? Optional.empty() : Optional.of(Instant.ofEpochMilli(millis));
    }
}
