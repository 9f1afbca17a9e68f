package dev.builderd.storage.core;

import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.metadata.BuildRows;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.TokenRows;
import dev.builderd.storage.core.metadata.TokenRows.TokenRow;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.Principal.Scope;
import dev.builderd.storage.core.model.TenantId;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Bearer tokens: the admin token, and tenant tokens. A tenant token is {@code bdt_<id>_<secret>}
 * with 256 random bits of secret; only its SHA-256 is stored (the secret's entropy makes a slow
 * hash unnecessary), so it is shown once, when issued. It has a {@link Scope}, may be bound to one
 * build, and may expire.
 *
 * <p>A token is looked up by its ID (the primary key), and its SHA-256 compared with the stored
 * one in constant time: no timing of the lookup or the comparison depends on the secret.
 *
 * <p>Revocation and expiry take effect at once on every node. With a PostgreSQL metadata store,
 * which several nodes share, every authentication reads the token's row (one primary-key lookup).
 * With SQLite, which only this process opens, a token found live is trusted without asking again
 * for at most {@link #TRUST_BOUND}, never past its expiry: every change that ends tokens goes
 * through this process and ends that trust before it returns (revocation, a build's deletion, a
 * tenant's purge). Only the token's SHA-256 is kept, never the token.
 */
public final class Tokens {

    /** How long a node on SQLite trusts a tenant token it looked up before it looks it up again. */
    public static final Duration TRUST_BOUND = Duration.ofSeconds(10);
    /** A build token's lifetime when its request names none. */
    public static final Duration BUILD_TOKEN_LIFETIME = Duration.ofHours(24);
    /** The longest lifetime a token may be given. */
    public static final Duration MAX_LIFETIME = Duration.ofDays(366);
    /** Live tenant tokens trusted at once; past it the trust is dropped and rebuilt by lookups. */
    private static final int MAX_TRUSTED = 10_000;

    private static final SecureRandom RANDOM = new SecureRandom();
    private static final String PREFIX = "bdt_";
    private static final String UNKNOWN = "the token is not valid: unknown or malformed";

    /** A freshly issued token: the only time its secret is known. */
    public record IssuedToken(TokenInfo info, String token) {
        public String tokenId() {
            return info.tokenId();
        }

        @Override
        public String toString() {
            return "IssuedToken[" + info.tokenId() + " of " + info.tenant() + "]";
        }
    }

    /** What the API tells of a token: everything but its secret. */
    public record TokenInfo(String tokenId, TenantId tenant, Scope scope, Optional<BuildId> build, Instant created,
            Optional<Instant> expires, Optional<Instant> revoked) {

        static TokenInfo of(TokenRow row) {
            return new TokenInfo(row.tokenId(), row.tenant(), row.scope(), row.build(), row.created(), row.expires(),
                    row.revoked());
        }
    }

    /**
     * What a token asks for: its scope, the build it is bound to if any, and how long it lives
     * (empty: until revoked, or {@link #BUILD_TOKEN_LIFETIME} for a build token).
     */
    public record Request(Scope scope, Optional<BuildId> build, Optional<Duration> lifetime) {

        /** A tenant-wide read-write token that lives until revoked. */
        public static final Request DEFAULT = new Request(Scope.WRITE, Optional.empty(), Optional.empty());

        public Request {
            if (build.isPresent() && scope == Scope.ADMIN) {
                throw new InvalidInputException("a build token has scope read or write, not admin");
            }
            lifetime.ifPresent(d -> {
                if (d.isNegative() || d.isZero() || d.compareTo(MAX_LIFETIME) > 0) {
                    throw new InvalidInputException("a token's lifetime is 1 s to " + MAX_LIFETIME.toDays() + " days, not "
                            + d.toSeconds() + " s");
                }
            });
        }

        Optional<Instant> expiry(Instant now) {
            return lifetime.or(() -> build.map(b -> BUILD_TOKEN_LIFETIME)).map(now::plus);
        }
    }

    /** The outcome of {@link #authenticate}. */
    public sealed interface Authentication {
        /** Who the token identifies, if it was accepted. */
        Optional<Principal> caller();

        record Accepted(Principal principal) implements Authentication {
            @Override
            public Optional<Principal> caller() {
                return Optional.of(principal);
            }
        }

        /** Refused, with why in words for the caller (the reason never contains the token). */
        record Refused(String reason) implements Authentication {
            @Override
            public Optional<Principal> caller() {
                return Optional.empty();
            }
        }
    }

    /** A lookup's answer, valid while {@link #revocations} still counts {@code epoch}, until {@code untilNanos} and its expiry. */
    private record Trusted(Principal.Tenant principal, byte[] hash, long epoch, long untilNanos, Optional<Instant> expires) {
    }

    private final MetadataStore metadata;
    private final byte[] adminTokenHash;
    private final Clock clock;
    /** Whether tokens found live are trusted for a while: only where no other node shares the store. */
    private final boolean trusting;
    /** Live tenant tokens by ID. */
    private final ConcurrentHashMap<String, Trusted> trusted = new ConcurrentHashMap<>();
    /**
     * Counts changes that end tokens: an entry made before the latest one is not trusted. A lookup
     * reads it before asking the store, so a lookup that raced with a revocation (read the row
     * before the revocation committed, stored its answer after the revocation cleared the map)
     * leaves an entry that is never trusted.
     */
    private final AtomicLong revocations = new AtomicLong();

    Tokens(MetadataStore metadata, String adminToken, Clock clock) {
        if (adminToken == null || adminToken.length() < 16) {
            throw new IllegalArgumentException("the admin token must have at least 16 characters");
        }
        this.metadata = metadata;
        this.adminTokenHash = sha256(adminToken);
        this.clock = clock;
        this.trusting = metadata.location().dialect() == MetadataLocation.Dialect.SQLITE;
    }

    /** Who {@code bearerToken} identifies, or why it is refused. */
    public Authentication authenticate(String bearerToken) {
        if (bearerToken == null || bearerToken.isEmpty() || bearerToken.length() > 512) {
            return new Authentication.Refused(UNKNOWN);
        }
        byte[] hash = sha256(bearerToken);
        if (MessageDigest.isEqual(hash, adminTokenHash)) {
            return new Authentication.Accepted(new Principal.Admin());
        }
        int idEnd = bearerToken.indexOf('_', PREFIX.length());
        if (!bearerToken.startsWith(PREFIX) || idEnd <= PREFIX.length() || idEnd > PREFIX.length() + 32) {
            return new Authentication.Refused(UNKNOWN);
        }
        String tokenId = bearerToken.substring(PREFIX.length(), idEnd);
        long epoch = revocations.get();
        long now = System.nanoTime();
        Trusted known = trusting ? trusted.get(tokenId) : null;
        if (known != null && known.epoch() == epoch && now - known.untilNanos() < 0 && MessageDigest.isEqual(hash, known.hash())
                && known.expires().map(clock.instant()::isBefore).orElse(true)) {
            return new Authentication.Accepted(known.principal());
        }
        Optional<TokenRow> found = metadata.read(h -> TokenRows.find(h, tokenId));
        if (found.isEmpty() || !MessageDigest.isEqual(hash, HexFormat.of().parseHex(found.get().tokenHash()))) {
            return new Authentication.Refused(UNKNOWN);
        }
        TokenRow row = found.get();
        if (row.revoked().isPresent()) {
            return new Authentication.Refused("the token " + tokenId + " was revoked at " + row.revoked().get());
        }
        if (row.expires().isPresent() && !clock.instant().isBefore(row.expires().get())) {
            return new Authentication.Refused("the token " + tokenId + " expired at " + row.expires().get());
        }
        Principal.Tenant principal = new Principal.Tenant(row.tenant(), tokenId, row.scope(), row.build());
        if (trusting) {
            if (trusted.size() >= MAX_TRUSTED) {
                trusted.clear();
            }
            trusted.put(tokenId, new Trusted(principal, hash, epoch, now + TRUST_BOUND.toNanos(), row.expires()));
        }
        return new Authentication.Accepted(principal);
    }

    /** Stores a new token of {@code tenant} and returns it with its secret; a build token's build must exist. */
    IssuedToken issue(TenantId tenant, Request request) {
        String tokenId = randomText(9);
        String token = PREFIX + tokenId + "_" + randomText(32);
        // Milliseconds, as stored: the answer to the issue and later listings show the same instants.
        Instant now = clock.instant().truncatedTo(java.time.temporal.ChronoUnit.MILLIS);
        TokenRow row = new TokenRow(tokenId, tenant, HexFormat.of().formatHex(sha256(token)), request.scope(), request.build(),
                now, request.expiry(now), Optional.empty());
        metadata.inTransaction(h -> {
            request.build().map(build -> new BuildRef(tenant, build)).ifPresent(ref -> {
                if (BuildRows.find(h, ref).isEmpty()) {
                    throw new NotFoundException("build '" + ref.build() + "' of tenant '" + tenant + "' does not exist");
                }
            });
            TokenRows.insert(h, row);
            return null;
        });
        return new IssuedToken(TokenInfo.of(row), token);
    }

    /** The tenant's tokens, revoked and expired ones included: never their secrets. */
    List<TokenInfo> list(TenantId tenant) {
        return metadata.read(h -> TokenRows.ofTenant(h, tenant)).stream().map(TokenInfo::of).toList();
    }

    boolean revoke(TenantId tenant, String tokenId) {
        boolean revoked = metadata.inTransaction(h -> TokenRows.revoke(h, tenant, tokenId, clock.instant()));
        distrustAll();
        return revoked;
    }

    /**
     * Stops trusting every token authenticated so far: called once a change that ends tokens (a
     * revocation, a build's deletion, a tenant's purge) has committed, so their next call is
     * looked up and refused.
     */
    void distrustAll() {
        revocations.incrementAndGet();
        trusted.clear();
    }

    private static String randomText(int bytes) {
        byte[] random = new byte[bytes];
        RANDOM.nextBytes(random);
        return Base64.getUrlEncoder().withoutPadding().encodeToString(random).replace('-', 'x').replace('_', 'y');
    }

    private static byte[] sha256(String text) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }
}
