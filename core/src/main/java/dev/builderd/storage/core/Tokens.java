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
import java.util.Base64;
import java.util.HexFormat;
import java.util.Optional;

/**
 * Bearer tokens: the admin token, and tenant tokens issued by the admin. A tenant token is
 * {@code bdt_<id>_<secret>} with 256 random bits of secret; only its SHA-256 is stored (the
 * secret's entropy makes a slow hash unnecessary), so it is shown once, when issued.
 */
public final class Tokens {

    private static final SecureRandom RANDOM = new SecureRandom();
    private static final String PREFIX = "bdt_";

    /** A freshly issued token: the only time its secret is known. */
    public record IssuedToken(String tokenId, TenantId tenant, String token) {
        @Override
        public String toString() {
            return "IssuedToken[" + tokenId + " of " + tenant + "]";
        }
    }

    private final MetadataStore metadata;
    private final byte[] adminTokenHash;
    private final Clock clock;

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
        return metadata.read(h -> TokenRows.findLive(h, HexFormat.of().formatHex(hash)))
                .map(owner -> new Principal.Tenant(owner.tenant(), owner.tokenId()));
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
        return metadata.inTransaction(h -> TokenRows.revoke(h, tenant, tokenId, clock.instant()));
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
