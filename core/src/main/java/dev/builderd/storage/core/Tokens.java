package dev.builderd.storage.core;

import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.TokenRows;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Bearer tokens: the admin token, and tenant tokens issued by the admin. A tenant token is
 * {@code bdt_<id>_<secret>} with 256 random bits of secret; only its SHA-256 is stored (the
 * secret's entropy makes a slow hash unnecessary), so it is shown once, when issued.
 *
 * <p>A tenant token this node has found live is trusted without asking the metadata store again
 * for at most {@link #REMOTE_REVOCATION_BOUND}: the SQL lookup was half the cost of a 4 KiB cache
 * GET. A revocation or a tenant purge through this node ends that trust before it returns, so the
 * token's very next call here is refused. Other nodes sharing the metadata store (PostgreSQL)
 * learn of it when their trust runs out: a revoked token may still work there for up to
 * {@link #REMOTE_REVOCATION_BOUND}. Only the token's SHA-256 is kept, never the token.
 */
public final class Tokens {

    /**
     * How long a node trusts a tenant token it authenticated before it looks it up again; the
     * longest a revocation or purge made through one node takes to reach the others.
     */
    public static final Duration REMOTE_REVOCATION_BOUND = Duration.ofSeconds(10);
    /** Live tenant tokens trusted at once; past it the trust is dropped and rebuilt by lookups. */
    private static final int MAX_TRUSTED = 10_000;

    private static final SecureRandom RANDOM = new SecureRandom();
    private static final String PREFIX = "bdt_";

    /** A freshly issued token: the only time its secret is known. */
    public record IssuedToken(String tokenId, TenantId tenant, String token) {
        @Override
        public String toString() {
            return "IssuedToken[" + tokenId + " of " + tenant + "]";
        }
    }

    /** A lookup's answer, valid while {@link #revocations} still counts {@code epoch} and until {@code untilNanos}. */
    private record Trusted(Principal.Tenant principal, long epoch, long untilNanos) {
    }

    private final MetadataStore metadata;
    private final byte[] adminTokenHash;
    private final Clock clock;
    /** Live tenant tokens by the hex of their SHA-256. */
    private final ConcurrentHashMap<String, Trusted> trusted = new ConcurrentHashMap<>();
    /**
     * Counts revocations and purges: an entry made before the latest one is not trusted. A lookup
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
    }

    /** Who {@code bearerToken} identifies, if anyone. Runs in constant time for the admin comparison. */
    public Optional<Principal> authenticate(String bearerToken) {
        if (bearerToken == null || bearerToken.isEmpty() || bearerToken.length() > 512) {
            return Optional.empty();
        }
        byte[] hash = sha256(bearerToken);
        if (MessageDigest.isEqual(hash, adminTokenHash)) {
            return Optional.of(new Principal.Admin());
        }
        if (!bearerToken.startsWith(PREFIX)) {
            return Optional.empty();
        }
        String hex = HexFormat.of().formatHex(hash);
        long epoch = revocations.get();
        long now = System.nanoTime();
        Trusted known = trusted.get(hex);
        if (known != null && known.epoch() == epoch && now - known.untilNanos() < 0) {
            return Optional.of(known.principal());
        }
        Optional<Principal.Tenant> found = metadata.read(h -> TokenRows.findLive(h, hex))
                .map(owner -> new Principal.Tenant(owner.tenant(), owner.tokenId()));
        if (found.isPresent()) {
            if (trusted.size() >= MAX_TRUSTED) {
                trusted.clear();
            }
            trusted.put(hex, new Trusted(found.get(), epoch, now + REMOTE_REVOCATION_BOUND.toNanos()));
        }
        return found.map(Principal.class::cast);
    }

    IssuedToken issue(TenantId tenant) {
        String tokenId = randomText(9);
        String token = PREFIX + tokenId + "_" + randomText(32);
        metadata.inTransaction(h -> {
            TokenRows.insert(h, tokenId, tenant, HexFormat.of().formatHex(sha256(token)), clock.instant());
            return null;
        });
        return new IssuedToken(tokenId, tenant, token);
    }

    boolean revoke(TenantId tenant, String tokenId) {
        boolean revoked = metadata.inTransaction(h -> TokenRows.revoke(h, tenant, tokenId, clock.instant()));
        distrustAll();
        return revoked;
    }

    /**
     * Stops trusting every token authenticated so far: called once a change that ends tokens (a
     * revocation, a tenant's purge) has committed, so their next call is looked up and refused.
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
