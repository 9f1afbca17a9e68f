package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.core.metadata.ArtifactRows;
import dev.builderd.storage.core.metadata.BuildRows;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.QuotaRows;
import dev.builderd.storage.core.metadata.TenantRows;
import dev.builderd.storage.core.model.ArtifactInfo;
import dev.builderd.storage.core.model.BuildInfo;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.TenantInfo;
import dev.builderd.storage.core.quota.Category;
import dev.builderd.storage.core.quota.Quotas;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Brings the artifact rows, the artifact store and each build's {@code manifest.json} and
 * {@code checksums.sha256} back in step after a crash. They are written one after the other (an
 * upload publishes its blob, then commits its row, then rewrites the manifest; a build's delete
 * removes its rows, then its files), so a process killed in between leaves:
 * <ul>
 *   <li>a blob without a row: an upload that was never acknowledged. It is deleted.
 *   <li>a blob that replaced the one its row describes: a replacing upload that landed whole but
 *       was never committed. The old content is gone, so the row is brought to what is stored
 *       (hashed again), with its bytes in the ledger.
 *   <li>a row without a blob (a delete that removed the blob first): the row goes, with its bytes.
 *   <li>files of a build whose rows are gone: the rest of an interrupted build delete. They are erased.
 *   <li>a manifest or checksums file that does not list the rows: it is written again.
 * </ul>
 * A tenant with artifact writes in flight (on any node) is left for a later round, and so is
 * every blob written less than {@link #SETTLE_MARGIN} before the round began: it may belong to
 * a write that is about to commit. Changes to one build happen under its lock, and are skipped
 * while an upload to it runs in this process.
 */
final class ArtifactRepair {

    private static final Logger LOG = LoggerFactory.getLogger(ArtifactRepair.class);
    /** Covers the clock difference between this node and a remote store, and S3's whole-second Last-Modified. */
    static final Duration SETTLE_MARGIN = Duration.ofSeconds(2);

    private final MetadataStore metadata;
    private final BlobStore store;
    private final Layout layout;
    private final Quotas quotas;
    private final BuildActivity activity;
    private final ArtifactService artifacts;
    private final Erasure erasure;
    private final Clock clock;
    /** Whether every build's manifest was checked since this process started; later rounds check active builds only. */
    private boolean checkedAllManifests;

    /** @param stores the stores as clients see them (plaintext), as {@link ArtifactService} writes them */
    ArtifactRepair(MetadataStore metadata, Stores stores, Layout layout, Quotas quotas, BuildActivity activity,
            ArtifactService artifacts, Clock clock) {
        this.metadata = metadata;
        this.store = stores.artifacts();
        this.layout = layout;
        this.quotas = quotas;
        this.activity = activity;
        this.artifacts = artifacts;
        this.erasure = new Erasure(layout, stores);
        this.clock = clock;
    }

    /**
     * Repairs every tenant; returns how many blobs, rows and manifests it changed. The first call
     * in a process checks every build's manifest (a crash can leave any build's stale, and a
     * build may be completed before the first round runs); later calls only active builds'
     * (completed builds are immutable).
     */
    int repairAll() {
        int repaired = 0;
        boolean everyManifest = !checkedAllManifests;
        boolean complete = true;
        for (TenantInfo tenant : metadata.read(TenantRows::all)) {
            try {
                OptionalInt done = repair(tenant.id(), everyManifest);
                complete &= done.isPresent();
                repaired += done.orElse(0);
            } catch (IOException | UncheckedIOException e) {
                LOG.warn("repairing the artifacts of tenant {} stopped: {}", tenant.id(), e.getMessage());
                complete = false;
            }
        }
        checkedAllManifests |= everyManifest && complete;
        return repaired;
    }

    /**
     * Repairs one tenant's artifacts; returns how many blobs, rows and manifests it changed, or
     * empty when the tenant has artifact writes in flight (it is left for the next round).
     *
     * @param everyManifest check every build's manifest, not only active builds'
     */
    OptionalInt repair(TenantId tenant, boolean everyManifest) throws IOException {
        Instant cutoff = clock.instant().minus(SETTLE_MARGIN);
        if (metadata.read(h -> QuotaRows.hasReservations(h, tenant, Category.ARTIFACTS))) {
            return OptionalInt.empty();
        }
        Map<BuildRef, BuildInfo> builds = metadata.read(h -> BuildRows.ofTenant(h, tenant)).stream()
                .collect(Collectors.toMap(BuildInfo::ref, Function.identity()));
        Map<BuildRef, Map<FileName, ArtifactInfo>> rows = new HashMap<>();
        for (BuildRef ref : builds.keySet()) {
            rows.put(ref, metadata.read(h -> ArtifactRows.ofBuild(h, ref)).stream()
                    .collect(Collectors.toMap(ArtifactInfo::name, Function.identity())));
        }
        Set<BuildRef> leftovers = new LinkedHashSet<>();
        Set<BuildRef> changed = new LinkedHashSet<>();
        Map<BuildRef, Set<FileName>> stored = new HashMap<>();
        int repaired = 0;
        Iterator<BlobInfo> blobs = store.list(layout.tenantKeyPrefix(tenant) + "builds/", null);
        while (blobs.hasNext()) {
            BlobInfo blob = blobs.next();
            Optional<BuildRef> ref = layout.buildOf(blob.key());
            if (ref.isEmpty()) {
                continue;
            }
            if (!builds.containsKey(ref.get())) {
                if (blob.lastModified().isBefore(cutoff)) {
                    leftovers.add(ref.get());
                }
                continue;
            }
            Optional<FileName> name = artifactName(ref.get(), blob.key());
            if (name.isEmpty()) {
                continue;
            }
            stored.computeIfAbsent(ref.get(), k -> new HashSet<>()).add(name.get());
            ArtifactInfo row = rows.get(ref.get()).get(name.get());
            // Rows keep milliseconds: a blob written in the millisecond its row was created is not newer than the row.
            boolean suspect = row == null || row.size() != blob.size()
                    || blob.lastModified().truncatedTo(ChronoUnit.MILLIS).isAfter(row.created());
            if (suspect && blob.lastModified().isBefore(cutoff) && repairStored(ref.get(), name.get(), cutoff)) {
                changed.add(ref.get());
                repaired++;
            }
        }
        for (Map.Entry<BuildRef, Map<FileName, ArtifactInfo>> build : rows.entrySet()) {
            for (ArtifactInfo row : build.getValue().values()) {
                if (!stored.getOrDefault(build.getKey(), Set.of()).contains(row.name()) && row.created().isBefore(cutoff)
                        && repairStored(build.getKey(), row.name(), cutoff)) {
                    changed.add(build.getKey());
                    repaired++;
                }
            }
        }
        for (BuildRef ref : leftovers) {
            // Its rows went first; a build of the same ID created since then is not a leftover.
            if (metadata.read(h -> BuildRows.find(h, ref)).isEmpty()) {
                LOG.warn("event=artifact_repair build={}: erasing the files of a build whose delete was interrupted", ref);
                erasure.eraseBuild(ref);
                repaired++;
            }
        }
        for (BuildInfo build : builds.values()) {
            if ((everyManifest || build.isActive() || changed.contains(build.ref())) && repairManifest(build.ref())) {
                repaired++;
            }
        }
        return OptionalInt.of(repaired);
    }

    /** The artifact name of a key of the build's {@code rootfs/}; empty for other keys and the service's own files. */
    private Optional<FileName> artifactName(BuildRef ref, BlobKey key) {
        String rest = key.value().substring(layout.buildKeyPrefix(ref).length());
        if (!rest.startsWith("rootfs/") || rest.indexOf('/', "rootfs/".length()) >= 0) {
            return Optional.empty();
        }
        String name = rest.substring("rootfs/".length());
        if (ArtifactService.RESERVED.contains(name) || !FileName.isValid(name)) {
            return Optional.empty();
        }
        return Optional.of(FileName.of(name));
    }

    /**
     * Under the build's lock, with what is stored and recorded now: deletes a blob without a row,
     * records a blob that replaced its row's, drops a row without a blob. Returns whether it changed anything.
     */
    private boolean repairStored(BuildRef ref, FileName name, Instant cutoff) {
        BlobKey key = layout.artifactKey(ref, name);
        return activity.underLock(ref, () -> {
            if (activity.hasUploads(ref)) {
                return false;
            }
            try {
                Optional<ArtifactInfo> row = metadata.read(h -> ArtifactRows.find(h, ref, name));
                Optional<BlobInfo> blob = store.stat(key);
                if (blob.isPresent() && !blob.get().lastModified().isBefore(cutoff)) {
                    return false;
                }
                if (row.isEmpty() && blob.isPresent()) {
                    LOG.warn("event=artifact_repair build={} artifact={}: deleting a blob no upload committed", ref, name);
                    store.delete(key);
                    return true;
                }
                if (row.isPresent() && blob.isEmpty()) {
                    LOG.warn("event=artifact_repair build={} artifact={}: dropping a row whose blob is gone", ref, name);
                    return metadata.inTransaction(h -> {
                        boolean deleted = ArtifactRows.delete(h, ref, name);
                        if (deleted) {
                            quotas.adjust(h, ref.tenant(), Category.ARTIFACTS, -row.get().size());
                        }
                        return deleted;
                    });
                }
                return row.isPresent() && recordReplaced(ref, row.get(), blob.get());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    /** Hashes a blob that may have replaced its row's; records it when it did. */
    private boolean recordReplaced(BuildRef ref, ArtifactInfo row, BlobInfo blob) throws IOException {
        long size;
        String sha256;
        try (InputStream in = store.open(blob.key(), ByteRange.ALL)) {
            HashingInputStream hashing = new HashingInputStream(in, null);
            size = hashing.transferTo(OutputStream.nullOutputStream());
            sha256 = hashing.sha256();
        }
        boolean replaced = size != row.size() || !sha256.equals(row.sha256());
        if (replaced) {
            LOG.warn("event=artifact_repair build={} artifact={}: recording the upload that replaced it before a crash ({} bytes, sha256 {})",
                    ref, row.name(), size, sha256);
        }
        // Unchanged content under a later time (a clock ahead of ours) takes that time, so it is not hashed again.
        Instant created = replaced ? clock.instant() : blob.lastModified().truncatedTo(ChronoUnit.MILLIS);
        metadata.inTransaction(h -> {
            if (ArtifactRows.find(h, ref, row.name()).isPresent()) {
                quotas.adjust(h, ref.tenant(), Category.ARTIFACTS, size - row.size());
                ArtifactRows.upsert(h, ref, new ArtifactInfo(row.name(), size, sha256, created));
            }
            return null;
        });
        return replaced;
    }

    /** Rewrites the build's manifest and checksums when the stored checksums do not list its rows. */
    private boolean repairManifest(BuildRef ref) {
        return activity.underLock(ref, () -> {
            if (activity.hasUploads(ref)) {
                return false;
            }
            try {
                if (metadata.read(h -> BuildRows.find(h, ref)).isEmpty()) {
                    return false;
                }
                List<ArtifactInfo> listed = metadata.read(h -> ArtifactRows.ofBuild(h, ref));
                String expected = ArtifactService.checksums(listed);
                Optional<String> stored = readSmall(layout.rootfsKey(ref, ArtifactService.CHECKSUMS));
                if (stored.orElse("").equals(expected) && (stored.isPresent() || listed.isEmpty())) {
                    return false;
                }
                LOG.warn("event=artifact_repair build={}: rewriting its manifest, which a crash left out of step", ref);
                artifacts.writeManifest(ref);
                return true;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    private Optional<String> readSmall(BlobKey key) throws IOException {
        try (InputStream in = store.open(key, ByteRange.ALL)) {
            return Optional.of(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (dev.builderd.storage.blob.BlobNotFoundException e) {
            return Optional.empty();
        }
    }
}
