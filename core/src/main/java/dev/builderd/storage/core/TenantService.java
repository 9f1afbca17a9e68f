package dev.builderd.storage.core;

import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.metadata.ArtifactRows;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.TenantRows;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.TenantInfo;
import dev.builderd.storage.core.model.Tier;
import java.io.IOException;
import java.time.Clock;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Tenants and their tokens: created, changed, read and purged by the admin. */
public final class TenantService {

    private static final Logger LOG = LoggerFactory.getLogger(TenantService.class);

    /** A tenant and the bytes its artifacts take. */
    public record Usage(TenantInfo tenant, long usedBytes) {
        public double usedPercent() {
            return 100.0 * usedBytes / tenant.tier().totalBytes();
        }
    }

    /** The outcome of a create-or-update. */
    public record Upserted(TenantInfo tenant, boolean created) {
    }

    private final MetadataStore metadata;
    private final Layout layout;
    private final Erasure erasure;
    private final Tokens tokens;
    private final Clock clock;

    TenantService(MetadataStore metadata, Layout layout, Stores stores, Tokens tokens, Clock clock) {
        this.metadata = metadata;
        this.layout = layout;
        this.erasure = new Erasure(layout, stores);
        this.tokens = tokens;
        this.clock = clock;
    }

    /**
     * Creates the tenant or changes its tier. Enterprise and dedicated tenants are always
     * encrypted; on other tiers {@code encryption} is the tenant's choice (null keeps the current one).
     */
    public Upserted put(Principal caller, TenantId id, Tier tier, Boolean encryption) {
        caller.requireAdmin("creating or changing a tenant");
        Upserted result = metadata.inTransaction(h -> {
            boolean current = TenantRows.find(h, id).map(TenantInfo::encryption).orElse(false);
            boolean effective = tier.alwaysEncrypted() || (encryption != null ? encryption : current);
            boolean created = TenantRows.upsert(h, id, tier, effective, clock.instant());
            return new Upserted(TenantRows.find(h, id).orElseThrow(), created);
        });
        try {
            layout.createTenantDirectories(id);
        } catch (IOException e) {
            throw IoErrors.translate(e, "creating the directories of tenant " + id);
        }
        if (result.created()) {
            LOG.info("tenant {} created on tier {}", id, tier.wireName());
        }
        return result;
    }

    public TenantInfo get(Principal caller, TenantId id) {
        caller.requireAccessTo(id);
        return metadata.read(h -> TenantRows.find(h, id))
                .orElseThrow(() -> new NotFoundException("tenant '" + id + "' does not exist"));
    }

    /** Every tenant with the bytes its artifacts take (admin only). */
    public List<Usage> usage(Principal caller) {
        caller.requireAdmin("reading every tenant's usage");
        return metadata.read(h -> {
            var bytes = ArtifactRows.bytesByTenant(h);
            return TenantRows.all(h).stream().map(t -> new Usage(t, bytes.getOrDefault(t.id().value(), 0L))).toList();
        });
    }

    public List<TenantInfo> list(Principal caller) {
        caller.requireAdmin("listing tenants");
        return metadata.read(TenantRows::all);
    }

    /**
     * Removes the tenant and all its data: its tokens stop working first (the rows go in one
     * transaction), then every blob and directory of the tenant is deleted.
     */
    public void purge(Principal caller, TenantId id) {
        caller.requireAdmin("purging a tenant");
        if (!metadata.inTransaction(h -> TenantRows.delete(h, id))) {
            throw new NotFoundException("tenant '" + id + "' does not exist");
        }
        erasure.eraseTenant(id);
        LOG.info("tenant {} purged", id);
    }

    public Tokens.IssuedToken issueToken(Principal caller, TenantId id) {
        caller.requireAdmin("issuing tokens");
        get(caller, id);
        Tokens.IssuedToken issued = tokens.issue(id);
        LOG.info("token {} issued for tenant {}", issued.tokenId(), id);
        return issued;
    }

    public void revokeToken(Principal caller, TenantId id, String tokenId) {
        caller.requireAdmin("revoking tokens");
        if (!tokens.revoke(id, tokenId)) {
            throw new NotFoundException("tenant '" + id + "' has no live token '" + tokenId + "'");
        }
        LOG.info("token {} of tenant {} revoked", tokenId, id);
    }
}
