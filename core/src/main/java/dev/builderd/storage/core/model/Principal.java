package dev.builderd.storage.core.model;

import dev.builderd.storage.core.error.ForbiddenException;

/** Who is calling: the operator (admin) or one tenant, through one of its tokens. */
public sealed interface Principal {

    /** Throws {@link ForbiddenException} unless this principal may act on {@code tenant}'s data. */
    void requireAccessTo(TenantId tenant);

    /** Throws {@link ForbiddenException} unless this principal is the admin. */
    void requireAdmin(String action);

    /** The operator: may do everything. */
    record Admin() implements Principal {
        @Override
        public void requireAccessTo(TenantId tenant) {
        }

        @Override
        public void requireAdmin(String action) {
        }
    }

    /** A tenant, authenticated by the token {@code tokenId}: reaches its own data only. */
    record Tenant(TenantId tenant, String tokenId) implements Principal {
        @Override
        public void requireAccessTo(TenantId other) {
            if (!tenant.equals(other)) {
                throw new ForbiddenException("this token belongs to tenant '" + tenant
                        + "' and cannot reach tenant '" + other + "'");
            }
        }

        @Override
        public void requireAdmin(String action) {
            throw new ForbiddenException(action + " needs the admin token; a tenant token cannot do it");
        }
    }
}
