package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.core.metadata.ArtifactRows;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.QuotaRows;
import dev.builderd.storage.core.metadata.TenantRows;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.TenantInfo;
import dev.builderd.storage.core.quota.Category;
import dev.builderd.storage.core.quota.Quotas;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Compares the quota ledger with what is really stored and repairs the difference: artifacts
 * from their rows (summed in the same locked transaction that sets the ledger, so exact), logs
 * and caches by listing the stores. A listed category with writes in flight is left for the next
 * round (their commit is about to change it), and so is one whose ledger line changed while it was
 * listed (a write, delete or eviction the listing may have seen only in part: setting the ledger
 * to that listing would undo it). Heals what a crash leaves: a write that landed but was
 * never committed, a delete that removed files but not their bytes from the ledger.
 */
final class QuotaReconciliation {

    private static final Logger LOG = LoggerFactory.getLogger(QuotaReconciliation.class);

    /** A difference found and repaired: the truth minus what the ledger said. */
    record Drift(TenantId tenant, Category category, long bytes) {
    }

    private final MetadataStore metadata;
    private final Quotas quotas;
    private final Stores stores;
    private final Layout layout;

    /** @param stores the stores as clients see them (plaintext sizes, which the ledger counts) */
    QuotaReconciliation(MetadataStore metadata, Quotas quotas, Stores stores, Layout layout) {
        this.metadata = metadata;
        this.quotas = quotas;
        this.stores = stores;
        this.layout = layout;
    }

    /** Reconciles every tenant; returns the drifts repaired. */
    List<Drift> reconcileAll() {
        List<Drift> drifts = new ArrayList<>();
        for (TenantInfo tenant : metadata.read(TenantRows::all)) {
            drifts.addAll(reconcile(tenant.id()));
        }
        return drifts;
    }

    List<Drift> reconcile(TenantId tenant) {
        List<Drift> drifts = new ArrayList<>();
        long artifactDrift = metadata.inTransaction(h -> {
            if (!metadata.lockTenant(h, tenant)) {
                return 0L;
            }
            long truth = ArtifactRows.bytesOfTenant(h, tenant);
            return quotas.measured(h, tenant, Category.ARTIFACTS, truth);
        });
        record(drifts, tenant, Category.ARTIFACTS, artifactDrift);
        String buildsPrefix = layout.tenantKeyPrefix(tenant) + "builds/";
        measureListed(drifts, tenant, Category.LOGS, stores.logs(), buildsPrefix, key -> key.contains("/logs/"));
        measureListed(drifts, tenant, Category.CACHE, stores.caches(), layout.tenantKeyPrefix(tenant) + "cache/", key -> true);
        return drifts;
    }

    private void measureListed(List<Drift> drifts, TenantId tenant, Category category, BlobStore store, String prefix,
            Predicate<String> counts) {
        long before = metadata.read(h -> QuotaRows.ledger(h, tenant)).get(category).used();
        long truth = 0;
        try {
            Iterator<BlobInfo> blobs = store.list(prefix, null);
            while (blobs.hasNext()) {
                BlobInfo blob = blobs.next();
                if (counts.test(blob.key().value())) {
                    truth += blob.size();
                }
            }
        } catch (IOException | UncheckedIOException e) {
            LOG.warn("quota reconciliation of tenant {} skipped {}: listing failed: {}", tenant, category.wireName(), e.getMessage());
            return;
        }
        long measured = truth;
        Long drift = metadata.inTransaction(h -> {
            if (!metadata.lockTenant(h, tenant) || QuotaRows.hasReservations(h, tenant, category)
                    || QuotaRows.ledger(h, tenant).get(category).used() != before) {
                return null;
            }
            return quotas.measured(h, tenant, category, measured);
        });
        if (drift != null) {
            record(drifts, tenant, category, drift);
        }
    }

    private static void record(List<Drift> drifts, TenantId tenant, Category category, long drift) {
        if (drift != 0) {
            LOG.warn("event=quota_drift tenant={} category={} drift_bytes={}: the ledger was repaired", tenant, category.wireName(), drift);
            drifts.add(new Drift(tenant, category, drift));
        }
    }
}
