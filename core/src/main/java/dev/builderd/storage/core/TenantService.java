package dev.builderd.storage.core;

import dev.builderd.storage.core.error.ConflictException;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.fs.TenantIsolation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.TenantRows;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.TenantInfo;
import dev.builderd.storage.core.model.Tier;
import dev.builderd.storage.core.quota.Quotas;
import java.io.IOException;
import java.time.Clock;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Tenants and their tokens: created, changed, read and purged by the admin. */
public final class TenantService {

    private static final Logger LOG = LoggerFactory.getLogger(TenantService.class);

    /** The outcome of a create-or-update. */
    public record Upserted(TenantInfo tenant, boolean created) {
    }

    private final MetadataStore metadata;
    private final Layout layout;
    private final Erasure erasure;
    private final Tokens tokens;
    private final TenantEncryption encryption;
    private final Quotas quotas;
    private final RetentionPolicies retentionPolicies;
    private final Clock clock;
    private final TenantIsolation isolation;

    /** @param plain the stores as they are, without encryption (erasure needs no keys) */
    TenantService(MetadataStore metadata, Layout layout, Stores plain, Tokens tokens, TenantEncryption encryption, Quotas quotas,
            RetentionPolicies retentionPolicies, TenantIsolation isolation, Clock clock) {
        this.isolation = isolation;
        this.quotas = quotas;
        this.retentionPolicies = retentionPolicies;
        this.metadata = metadata;
        this.layout = layout;
        this.erasure = new Erasure(layout, plain);
        this.tokens = tokens;
        this.encryption = encryption;
        this.clock = clock;
    }

    /**
     * Creates the tenant or changes its tier. Enterprise and dedicated tenants are always
     * encrypted; on other tiers {@code encryption} is the tenant's choice (null keeps the current
     * one). Turning encryption on gives the tenant keys first, so nothing is written in plaintext
     * once the tenant is marked encrypted, and encrypts its existing data in the background
     * (readable all along). Encryption cannot be turned off.
     */
    public Upserted put(Principal caller, TenantId id, Tier tier, Boolean encryption) {
        caller.requireAdmin("creating or changing a tenant");
        if (this.encryption.isShredded(id)) {
            throw new ConflictException("tenant '" + id + "' is being purged (its keys are destroyed); finish the purge"
                    + " with DELETE /v1/tenants/" + id + " before using the ID again");
        }
        Optional<TenantInfo> before = metadata.read(h -> TenantRows.find(h, id));
        boolean current = before.map(TenantInfo::encryption).orElse(false);
        boolean effective = tier.alwaysEncrypted() || (encryption != null ? encryption : current);
        boolean hasKeys = this.encryption.hasKeys(id);
        if (!effective && (current || hasKeys)) {
            throw new ConflictException("encryption of tenant '" + id + "' cannot be turned off: its data is encrypted at"
                    + " rest with its own key");
        }
        boolean turnedOn = effective && !hasKeys;
        if (turnedOn) {
            this.encryption.enable(id, before.isPresent());
        }
        Upserted result = metadata.inTransaction(h -> {
            boolean created = TenantRows.upsert(h, id, tier, effective, clock.instant());
            return new Upserted(TenantRows.find(h, id).orElseThrow(), created);
        });
        if (turnedOn && before.isPresent()) {
            this.encryption.encryptExistingData(id);
        }
        quotas.refreshState(id);
        try {
            layout.createTenantDirectories(id);
        } catch (IOException e) {
            throw IoErrors.translate(e, "creating the directories of tenant " + id);
        }
        isolation.secure(id);
        if (result.created()) {
            LOG.info("tenant {} created on tier {}", id, tier.wireName());
        }
        return result;
    }

    /**
     * Checks now that the tenant's directories are owned, moded and ACL'd as specified
     * ({@link TenantIsolation#verify}); admin only.
     */
    public TenantIsolation.Status verifyDirectories(Principal caller, TenantId id) {
        caller.requireAdmin("checking a tenant's directory protection");
        get(caller, id);
        return isolation.verify(id);
    }

    public TenantInfo get(Principal caller, TenantId id) {
        caller.requireRead(id);
        return metadata.read(h -> TenantRows.find(h, id))
                .orElseThrow(() -> new NotFoundException("tenant '" + id + "' does not exist"));
    }

    /** Every tenant's usage against its limits, from the quota ledger (admin only). */
    public List<dev.builderd.storage.core.quota.Usage> usage(Principal caller) {
        caller.requireAdmin("reading every tenant's usage");
        return metadata.read(TenantRows::all).stream().map(t -> quotas.usage(t.id())).toList();
    }

    public List<TenantInfo> list(Principal caller) {
        caller.requireAdmin("listing tenants");
        return metadata.read(TenantRows::all);
    }

    /**
     * Removes the tenant and all its data: its keyset is destroyed first (crypto-shredding: a copy
     * of its blobs anywhere, in a backup or on a disk, can no longer be read), then its tokens
     * stop working (the rows go in one transaction), then every blob and directory of the tenant
     * is deleted. A purge interrupted half-way is finished by calling it again.
     */
    public void purge(Principal caller, TenantId id) {
        caller.requireAdmin("purging a tenant");
        if (metadata.read(h -> TenantRows.find(h, id)).isEmpty() && !encryption.isShredded(id)) {
            throw new NotFoundException("tenant '" + id + "' does not exist");
        }
        encryption.shred(id);
        // Before the row: a purge interrupted here is finished by purging again, and a tenant created
        // later under this name never inherits the old policy.
        retentionPolicies.remove(id);
        metadata.inTransaction(h -> TenantRows.delete(h, id));
        tokens.distrustAll();
        erasure.eraseTenant(id);
        isolation.forget(id);
        encryption.purged(id);
        LOG.info("tenant {} purged", id);
    }

    /**
     * Issues a token of the tenant, as {@code request} asks: a build token's build must exist. See
     * {@link Principal#requireIssue} for who may issue what.
     */
    public Tokens.IssuedToken issueToken(Principal caller, TenantId id, Tokens.Request request) {
        caller.requireIssue(id, request.scope(), request.build());
        get(caller, id);
        Tokens.IssuedToken issued = tokens.issue(id, request);
        LOG.info("token {} issued for tenant {} with scope {}{}", issued.tokenId(), id, request.scope().wireName(),
                request.build().map(build -> ", bound to build " + build).orElse(""));
        return issued;
    }

    /** The tenant's tokens, revoked and expired ones included; never their secrets. */
    public List<Tokens.TokenInfo> tokens(Principal caller, TenantId id) {
        caller.requireTokenAdmin(id);
        get(caller, id);
        return tokens.list(id);
    }

    public void revokeToken(Principal caller, TenantId id, String tokenId) {
        caller.requireTokenAdmin(id);
        if (!tokens.revoke(id, tokenId)) {
            throw new NotFoundException("tenant '" + id + "' has no live token '" + tokenId + "'");
        }
        LOG.info("token {} of tenant {} revoked", tokenId, id);
    }
}
