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

    /** Reading the tenant as a whole: listing its builds, its settings, usage and policies. */
    void requireRead(TenantId tenant);

    /** Changing the tenant as a whole: creating or deleting a build, deleting cache entries. */
    void requireWrite(TenantId tenant);

    /** Reading one build: its record, directories, artifacts and logs. */
    void requireRead(BuildRef build);

    /** Writing to one build: uploads, imports, logs, heartbeats, completing it, pinning cache entries for it. */
    void requireWrite(BuildRef build);

    /** Reading the tenant's cache entries. */
    void requireCacheRead(TenantId tenant);

    /** Adding entries to the tenant's caches. */
    void requireCacheWrite(TenantId tenant);

    /**
     * Issuing a token of {@code scope} for {@code tenant}, bound to {@code build} if present: the
     * operator issues any; a tenant-wide token of scope write issues build tokens up to write,
     * one of scope admin also read and write tokens of its tenant; admin-scope tokens come from
     * the operator only, and a build token issues none.
     */
    void requireIssue(TenantId tenant, Scope scope, Optional<BuildId> build);

    /** Listing and revoking the tenant's tokens: the operator, or a tenant-wide admin-scope token of the tenant. */
    void requireTokenAdmin(TenantId tenant);

    /** Throws {@link ForbiddenException} unless this principal is the operator. */
    void requireAdmin(String action);

    /** The operator: may do everything. */
    record Admin() implements Principal {
        @Override
        public void requireRead(TenantId tenant) {
        }

        @Override
        public void requireWrite(TenantId tenant) {
        }

        @Override
        public void requireRead(BuildRef build) {
        }

        @Override
        public void requireWrite(BuildRef build) {
        }

        @Override
        public void requireCacheRead(TenantId tenant) {
        }

        @Override
        public void requireCacheWrite(TenantId tenant) {
        }

        @Override
        public void requireIssue(TenantId tenant, Scope scope, Optional<BuildId> build) {
        }

        @Override
        public void requireTokenAdmin(TenantId tenant) {
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

        @Override
        public void requireRead(TenantId other) {
            require(other, Optional.empty(), false, Scope.READ, "reading tenant '" + other + "'");
        }

        @Override
        public void requireWrite(TenantId other) {
            require(other, Optional.empty(), false, Scope.WRITE, "changing tenant '" + other + "'");
        }

        @Override
        public void requireRead(BuildRef other) {
            require(other.tenant(), Optional.of(other.build()), false, Scope.READ, "reading build " + other);
        }

        @Override
        public void requireWrite(BuildRef other) {
            require(other.tenant(), Optional.of(other.build()), false, Scope.WRITE, "writing to build " + other);
        }

        @Override
        public void requireCacheRead(TenantId other) {
            require(other, Optional.empty(), true, Scope.READ, "reading the caches of tenant '" + other + "'");
        }

        @Override
        public void requireCacheWrite(TenantId other) {
            require(other, Optional.empty(), true, Scope.WRITE, "writing to the caches of tenant '" + other + "'");
        }

        @Override
        public void requireIssue(TenantId other, Scope wanted, Optional<BuildId> boundTo) {
            String what = "issuing a token of scope '" + wanted.wireName() + "'" + boundTo.map(b -> " for build " + b).orElse("");
            if (wanted == Scope.ADMIN) {
                throw new ForbiddenException(what + " needs the admin token; a tenant token cannot do it");
            }
            require(other, Optional.empty(), false, boundTo.isPresent() ? Scope.WRITE : Scope.ADMIN, what);
            if (!scope.includes(wanted)) {
                throw new ForbiddenException("this token has scope '" + scope.wireName() + "' and cannot issue a token of"
                        + " scope '" + wanted.wireName() + "'");
            }
        }

        @Override
        public void requireTokenAdmin(TenantId other) {
            require(other, Optional.empty(), false, Scope.ADMIN, "managing the tokens of tenant '" + other + "'");
        }

        @Override
        public void requireAdmin(String action) {
            throw new ForbiddenException(action + " needs the admin token; a tenant token cannot do it");
        }

        /**
         * The rule: the tenant must be this token's; a build token reaches only its own build, or
         * the caches when {@code cache}; and the token's scope must include {@code needed}.
         *
         * @param target the build the call reaches, or empty for the tenant as a whole
         */
        private void require(TenantId other, Optional<BuildId> target, boolean cache, Scope needed, String what) {
            if (!tenant.equals(other)) {
                throw new ForbiddenException("this token belongs to tenant '" + tenant + "' and cannot reach tenant '" + other + "'");
            }
            if (build.isPresent() && !cache && !build.equals(target)) {
                throw new ForbiddenException("this token is bound to build " + new BuildRef(tenant, build.get())
                        + "; " + what + " is outside that build");
            }
            if (!scope.includes(needed)) {
                throw new ForbiddenException("this token has scope '" + scope.wireName() + "'; " + what + " needs scope '"
                        + needed.wireName() + "'");
            }
        }
    }
}
