package dev.builderd.storage.core.model;

import dev.builderd.storage.core.error.ForbiddenException;
import dev.builderd.storage.core.error.InvalidInputException;
import java.util.Locale;
import java.util.Optional;

/**
 * Who is calling: the operator (admin) or one tenant, through one of its tokens. Every core entry
 * point states what it needs by calling one of the {@code require} methods before it does
 * anything; each throws {@link ForbiddenException}, naming what the token has and what was
 * needed, when the caller may not. The rule behind them all is in one place, {@link Tenant}.
 *
 * <p>What a call reaches: the tenant as a whole (its builds as a list, creating and deleting
 * builds, its settings, usage and policies), one build (its record, directories, artifacts and
 * logs), or the tenant's caches. A tenant token reaches its own tenant only. A build token
 * reaches its own build, and the tenant's caches (a build worker needs its dependency cache), and
 * nothing else of the tenant.
 */
public sealed interface Principal {

    /** What a tenant token may do; each scope includes the ones before it. */
    enum Scope {
        /** Reads: GET, HEAD and listings. */
        READ,
        /** Reads and writes: uploads, deletions, creating and completing builds, issuing build tokens. */
        WRITE,
        /** Reads, writes, and managing the tenant's own tokens. */
        ADMIN;

        /** The scope as the API spells it: {@code read}, {@code write}, {@code admin}. */
        public String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }

        public static Scope parse(String text) {
            for (Scope scope : values()) {
                if (scope.wireName().equals(text)) {
                    return scope;
                }
            }
            throw new InvalidInputException("unknown token scope '" + text + "': use read, write or admin");
        }

        boolean includes(Scope other) {
            return compareTo(other) >= 0;
        }
    }

    /**
     * What a call needs: to reach {@code tenant} as a whole (no build, not the caches), one build of
     * it, or its caches, with at least {@code scope}; {@code what} names the action in refusals.
     */
    record Need(TenantId tenant, Optional<BuildId> build, boolean cache, Scope scope, String what) {
    }

    /** Throws {@link ForbiddenException} unless this principal may do what {@code need} describes. */
    void require(Need need);

    /** Reading the tenant as a whole: listing its builds, its settings, usage and policies. */
    default void requireRead(TenantId tenant) {
        require(new Need(tenant, Optional.empty(), false, Scope.READ, "reading tenant '" + tenant + "'"));
    }

    /** Changing the tenant as a whole: creating or deleting a build, deleting cache entries. */
    default void requireWrite(TenantId tenant) {
        require(new Need(tenant, Optional.empty(), false, Scope.WRITE, "changing tenant '" + tenant + "'"));
    }

    /** Reading one build: its record, directories, artifacts and logs. */
    default void requireRead(BuildRef build) {
        require(new Need(build.tenant(), Optional.of(build.build()), false, Scope.READ, "reading build " + build));
    }

    /** Writing to one build: uploads, imports, logs, heartbeats, completing it, pinning cache entries for it. */
    default void requireWrite(BuildRef build) {
        require(new Need(build.tenant(), Optional.of(build.build()), false, Scope.WRITE, "writing to build " + build));
    }

    /** Reading the tenant's cache entries. */
    default void requireCacheRead(TenantId tenant) {
        require(new Need(tenant, Optional.empty(), true, Scope.READ, "reading the caches of tenant '" + tenant + "'"));
    }

    /** Adding entries to the tenant's caches. */
    default void requireCacheWrite(TenantId tenant) {
        require(new Need(tenant, Optional.empty(), true, Scope.WRITE, "writing to the caches of tenant '" + tenant + "'"));
    }

    /** Listing and revoking the tenant's tokens: the operator, or a tenant-wide admin-scope token of the tenant. */
    default void requireTokenAdmin(TenantId tenant) {
        require(new Need(tenant, Optional.empty(), false, Scope.ADMIN, "managing the tokens of tenant '" + tenant + "'"));
    }

    /**
     * Issuing a token of {@code scope} for {@code tenant}, bound to {@code build} if present: the
     * operator issues any; a tenant-wide token of scope write issues build tokens up to write,
     * one of scope admin also read and write tokens of its tenant; admin-scope tokens come from
     * the operator only, and a build token issues none.
     */
    void requireIssue(TenantId tenant, Scope scope, Optional<BuildId> build);

    /** Throws {@link ForbiddenException} unless this principal is the operator. */
    void requireAdmin(String action);

    /** The operator: may do everything. */
    record Admin() implements Principal {
        @Override
        public void require(Need need) {
        }

        @Override
        public void requireIssue(TenantId tenant, Scope scope, Optional<BuildId> build) {
        }

        @Override
        public void requireAdmin(String action) {
        }
    }

    /**
     * A tenant, authenticated by the token {@code tokenId} of {@code scope}; bound to one build
     * of the tenant when {@code build} is present.
     */
    record Tenant(TenantId tenant, String tokenId, Scope scope, Optional<BuildId> build) implements Principal {

        /** A tenant-wide read-write token: what every token was before scopes. */
        public Tenant(TenantId tenant, String tokenId) {
            this(tenant, tokenId, Scope.WRITE, Optional.empty());
        }

        /**
         * The rule: the tenant must be this token's; a build token reaches only its own build, or
         * the caches; and the token's scope must include the one needed.
         */
        @Override
        public void require(Need need) {
            if (!tenant.equals(need.tenant())) {
                throw new ForbiddenException("this token belongs to tenant '" + tenant + "' and cannot reach tenant '"
                        + need.tenant() + "'");
            }
            if (build.isPresent() && !need.cache() && !build.equals(need.build())) {
                throw new ForbiddenException("this token is bound to build " + new BuildRef(tenant, build.get())
                        + "; " + need.what() + " is outside that build");
            }
            if (!scope.includes(need.scope())) {
                throw new ForbiddenException("this token has scope '" + scope.wireName() + "'; " + need.what() + " needs scope '"
                        + need.scope().wireName() + "'");
            }
        }

        @Override
        public void requireIssue(TenantId other, Scope wanted, Optional<BuildId> boundTo) {
            String what = "issuing a token of scope '" + wanted.wireName() + "'" + boundTo.map(b -> " for build " + b).orElse("");
            if (wanted == Scope.ADMIN) {
                throw new ForbiddenException(what + " needs the admin token; a tenant token cannot do it");
            }
            require(new Need(other, Optional.empty(), false, boundTo.isPresent() ? Scope.WRITE : Scope.ADMIN, what));
            if (!scope.includes(wanted)) {
                throw new ForbiddenException("this token has scope '" + scope.wireName() + "' and cannot issue a token of"
                        + " scope '" + wanted.wireName() + "'");
            }
        }

        @Override
        public void requireAdmin(String action) {
            throw new ForbiddenException(action + " needs the admin token; a tenant token cannot do it");
        }
    }
}
