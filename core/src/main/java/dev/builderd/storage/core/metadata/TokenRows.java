package dev.builderd.storage.core.metadata;

import dev.builderd.storage.core.model.TenantId;
import java.time.Instant;
import java.util.Optional;
import org.jdbi.v3.core.Handle;

/** The {@code tokens} table: tenant tokens, stored as SHA-256 hashes only. */
public final class TokenRows {

    /** A live token's owner. */
    public record TokenOwner(String tokenId, TenantId tenant) {
    }

    private TokenRows() {
    }

    public static void insert(Handle h, String tokenId, TenantId tenant, String tokenHash, Instant now) {
        h.createUpdate("INSERT INTO tokens (token_id, tenant_id, token_hash, created_at) VALUES (:id, :t, :hash, :now)")
                .bind("id", tokenId).bind("t", tenant.value()).bind("hash", tokenHash).bind("now", now.toEpochMilli())
                .execute();
    }

    /** The owner of the unrevoked token with this hash. */
    public static Optional<TokenOwner> findLive(Handle h, String tokenHash) {
        return h.createQuery("SELECT token_id, tenant_id FROM tokens WHERE token_hash = :hash AND revoked_at IS NULL")
                .bind("hash", tokenHash)
                .map((rs, ctx) -> new TokenOwner(rs.getString("token_id"), TenantId.of(rs.getString("tenant_id"))))
                .findOne();
    }

    /** Revokes a token of {@code tenant}; returns false if there is no such live token. */
    public static boolean revoke(Handle h, TenantId tenant, String tokenId, Instant now) {
        return h.createUpdate("UPDATE tokens SET revoked_at = :now WHERE token_id = :id AND tenant_id = :t AND revoked_at IS NULL")
                .bind("now", now.toEpochMilli()).bind("id", tokenId).bind("t", tenant.value()).execute() > 0;
    }

    public static void deleteAll(Handle h, TenantId tenant) {
        h.createUpdate("DELETE FROM tokens WHERE tenant_id = :t").bind("t", tenant.value()).execute();
    }
}
