package dev.builderd.storage.core.metadata;

import dev.builderd.storage.core.model.TenantId;
import java.security.SecureRandom;
import java.util.List;
import java.util.Optional;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.mapper.RowMapper;

/**
 * The {@code tenant_keysets} table: each tenant's wrapped keyset (or the tombstone of a shredded
 * one), shared by every node. Every change gives the row a new random version; a change names the
 * version it was made from and fails when another node changed the row meanwhile.
 */
public final class KeysetRows {

    private static final SecureRandom RANDOM = new SecureRandom();

    /**
     * A tenant's row.
     *
     * @param wrapped the key document (the keyset wrapped by the master key); empty for a tombstone
     */
    public record Keyset(TenantId tenant, Optional<byte[]> wrapped, long version) {

        public boolean shredded() {
            return wrapped.isEmpty();
        }
    }

    private static final RowMapper<Keyset> MAPPER = (rs, ctx) -> new Keyset(TenantId.of(rs.getString("tenant_id")),
            Optional.ofNullable(rs.getBytes("wrapped")), rs.getLong("version"));

    private KeysetRows() {
    }

    public static Optional<Keyset> find(Handle h, TenantId tenant) {
        return h.createQuery("SELECT tenant_id, wrapped, version FROM tenant_keysets WHERE tenant_id = :t").bind("t", tenant.value())
                .map(MAPPER).findOne();
    }

    /** The row's version, without the keyset: what a node compares with its cached one. */
    public static Optional<Long> version(Handle h, TenantId tenant) {
        return h.createQuery("SELECT version FROM tenant_keysets WHERE tenant_id = :t").bind("t", tenant.value())
                .mapTo(Long.class).findOne();
    }

    /** Every row, by tenant. */
    public static List<Keyset> all(Handle h) {
        return h.createQuery("SELECT tenant_id, wrapped, version FROM tenant_keysets ORDER BY tenant_id").map(MAPPER).list();
    }

    /** Whether any tenant has a keyset or a tombstone. */
    public static boolean any(Handle h) {
        return h.createQuery("SELECT COUNT(*) FROM tenant_keysets").mapTo(Long.class).one() > 0;
    }

    /**
     * Adds the tenant's row ({@code wrapped} null: a tombstone) unless it has one; returns its
     * version, or empty when a row was there already.
     */
    public static Optional<Long> insert(Handle h, TenantId tenant, byte[] wrapped, long nowMillis) {
        long version = newVersion();
        int inserted = h.createUpdate("INSERT INTO tenant_keysets (tenant_id, wrapped, version, updated_at) VALUES (:t, :w, :v, :now)"
                        + " ON CONFLICT (tenant_id) DO NOTHING")
                .bind("t", tenant.value()).bind("w", wrapped).bind("v", version).bind("now", nowMillis).execute();
        return inserted == 1 ? Optional.of(version) : Optional.empty();
    }

    /**
     * Replaces the row made at version {@code expected} ({@code wrapped} null: shreds it); returns
     * the new version, or empty when the row is gone or another change came first.
     */
    public static Optional<Long> replace(Handle h, TenantId tenant, long expected, byte[] wrapped, long nowMillis) {
        long version = newVersion();
        int updated = h.createUpdate("UPDATE tenant_keysets SET wrapped = :w, version = :v, updated_at = :now"
                        + " WHERE tenant_id = :t AND version = :expected")
                .bind("t", tenant.value()).bind("w", wrapped).bind("v", version).bind("now", nowMillis).bind("expected", expected)
                .execute();
        return updated == 1 ? Optional.of(version) : Optional.empty();
    }

    /** Makes the tenant's row a tombstone, whatever its version; returns the new version, or empty when it has no row. */
    public static Optional<Long> shred(Handle h, TenantId tenant, long nowMillis) {
        long version = newVersion();
        int updated = h.createUpdate("UPDATE tenant_keysets SET wrapped = NULL, version = :v, updated_at = :now WHERE tenant_id = :t")
                .bind("t", tenant.value()).bind("v", version).bind("now", nowMillis).execute();
        return updated == 1 ? Optional.of(version) : Optional.empty();
    }

    /** Removes the tenant's tombstone (not a live keyset); returns whether there was one. */
    public static boolean deleteTombstone(Handle h, TenantId tenant) {
        return h.createUpdate("DELETE FROM tenant_keysets WHERE tenant_id = :t AND wrapped IS NULL").bind("t", tenant.value())
                .execute() == 1;
    }

    /** The master key check ({@code master_key_check}), if one was written. */
    public static Optional<byte[]> masterCheck(Handle h) {
        return h.createQuery("SELECT probe FROM master_key_check WHERE id = 1").mapTo(byte[].class).findOne();
    }

    /** Writes the master key check unless there is one; returns whether it was written. */
    public static boolean insertMasterCheck(Handle h, byte[] probe, long nowMillis) {
        return h.createUpdate("INSERT INTO master_key_check (id, probe, updated_at) VALUES (1, :p, :now) ON CONFLICT (id) DO NOTHING")
                .bind("p", probe).bind("now", nowMillis).execute() == 1;
    }

    /** Replaces the master key check (rewrapped by a master key rotation). */
    public static void replaceMasterCheck(Handle h, byte[] probe, long nowMillis) {
        h.createUpdate("UPDATE master_key_check SET probe = :p, updated_at = :now WHERE id = 1").bind("p", probe).bind("now", nowMillis)
                .execute();
    }

    private static long newVersion() {
        long version;
        do {
            version = RANDOM.nextLong();
        } while (version == 0);
        return version;
    }
}
