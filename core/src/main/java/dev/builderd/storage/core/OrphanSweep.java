package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.core.metadata.BuildRows;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.TenantRows;
import dev.builderd.storage.core.model.ArtifactInfo;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildInfo;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.JanitorDeletion;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.TenantInfo;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds and cleans what crashes and failed deletions leave behind, once it is older than a grace
 * period (so that nothing mid-creation is taken for an orphan):
 *
 * <ul>
 *   <li>build trees (directories in any category root, blobs in remote stores) of a known tenant
 *       that the metadata store has no build for: a delete or create interrupted after the
 *       metadata changed; they are erased like a deleted build;
 *   <li>artifact rows of finished builds whose file is gone from the store: the row goes, its
 *       bytes go back to the quota and the manifest is rewritten;
 *   <li>once, at start-up, the temporary files of uploads that an earlier process died in
 *       ({@link FileBlobStore#sweepAbandonedUploads}).
 * </ul>
 *
 * The node holding the janitor's lease sweeps all of this ({@link #sweepAll}); every other node
 * sweeps what only it can see, its own directories and upload temporary files
 * ({@link #sweepLocal}): a build deleted through another node leaves its directories on its host.
 *
 * <p>Builds the metadata knows, active or not, and other tenants' trees are never touched; trees of
 * tenants the metadata no longer knows are a purge's to finish (purge again). Unfinished
 * multipart uploads on object stores are aborted by the daemon's store composition, which knows
 * the backends.
 */
final class OrphanSweep {

    private static final Logger LOG = LoggerFactory.getLogger(OrphanSweep.class);

    private final MetadataStore metadata;
    private final Layout layout;
    private final Stores plain;
    private final Erasure erasure;
    private final ArtifactService artifacts;
    private final JanitorLog record;
    private final Clock clock;
    private final Duration grace;
    private boolean uploadTempsSwept;

    /** @param plain the stores as composed (no encryption): what {@link Erasure} deletes through */
    OrphanSweep(MetadataStore metadata, Layout layout, Stores plain, ArtifactService artifacts, JanitorLog record, Clock clock,
            Duration grace) {
        this.metadata = metadata;
        this.layout = layout;
        this.plain = plain;
        this.erasure = new Erasure(layout, plain);
        this.artifacts = artifacts;
        this.record = record;
        this.clock = clock;
        this.grace = grace;
    }

    /** Sweeps every known tenant; returns what was deleted. A tenant that fails is logged and swept next time. */
    List<JanitorDeletion> sweepAll() {
        return sweep(true);
    }

    /**
     * Sweeps only this node's directories (orphan build trees) and its uploads' temporary files;
     * the stores and rows every node sees are the lease holder's {@link #sweepAll}.
     */
    List<JanitorDeletion> sweepLocal() {
        return sweep(false);
    }

    private List<JanitorDeletion> sweep(boolean clusterWide) {
        return record.exclusively(() -> {
            boolean ok = sweepUploadTempsOnce();
            List<JanitorDeletion> deleted = new ArrayList<>();
            for (TenantInfo tenant : metadata.read(TenantRows::all)) {
                try {
                    deleted.addAll(sweep(tenant.id(), clusterWide));
                } catch (IOException | RuntimeException e) {
                    ok = false;
                    LOG.error("the orphan sweep of tenant {} failed: {}", tenant.id(), e.getMessage());
                }
            }
            record.finished(JanitorLog.Job.ORPHANS, ok);
            return deleted;
        });
    }

    /** The temporary files of dead processes' uploads: only at the first sweep, since this process leaves none behind. */
    private boolean sweepUploadTempsOnce() {
        if (uploadTempsSwept) {
            return true;
        }
        uploadTempsSwept = true;
        boolean ok = true;
        for (BlobStore store : plain.backends()) {
            if (Stores.primaryOf(store) instanceof FileBlobStore files) {
                try {
                    files.sweepAbandonedUploads();
                } catch (IOException | UncheckedIOException e) {
                    ok = false;
                    LOG.warn("could not sweep interrupted uploads under {}: {}", files.root(), e.getMessage());
                }
            }
        }
        return ok;
    }

    private List<JanitorDeletion> sweep(TenantId tenant, boolean clusterWide) throws IOException {
        Instant now = clock.instant();
        Instant cutoff = now.minus(grace);
        List<JanitorDeletion> deleted = new ArrayList<>();
        for (Map.Entry<BuildId, Instant> unknown : unknownBuilds(tenant, clusterWide).entrySet()) {
            BuildRef ref = new BuildRef(tenant, unknown.getKey());
            // Checked again just before erasing: a build created under this ID since the listing keeps its files.
            if (unknown.getValue().isBefore(cutoff) && metadata.read(h -> BuildRows.find(h, ref)).isEmpty()) {
                long bytes = clusterWide ? remoteBytes(ref) : 0;
                if (clusterWide) {
                    erasure.eraseBuild(ref);
                } else {
                    erasure.eraseBuildDirectories(ref);
                }
                deleted.add(recorded(new JanitorDeletion(ref, JanitorDeletion.Kind.ORPHAN_BUILD, "",
                        "the metadata store has no such build; its files were last changed " + unknown.getValue()
                                + ", more than the grace period of " + grace.toSeconds() + " s ago", bytes, now)));
            }
        }
        for (BuildInfo build : clusterWide ? metadata.read(h -> BuildRows.ofTenant(h, tenant)) : List.<BuildInfo>of()) {
            if (build.isActive()) {
                continue;
            }
            for (FileName name : artifacts.missing(build.ref(), cutoff)) {
                Optional<ArtifactInfo> forgotten = artifacts.forgetMissing(build.ref(), name);
                if (forgotten.isPresent()) {
                    deleted.add(recorded(new JanitorDeletion(build.ref(), JanitorDeletion.Kind.MISSING_ARTIFACT, name.value(),
                            "its file is gone from the artifact store; the row is forgotten and its bytes given back to the quota",
                            forgotten.get().size(), now)));
                }
            }
        }
        return deleted;
    }

    private JanitorDeletion recorded(JanitorDeletion deletion) {
        record.deleted(deletion);
        return deletion;
    }

    /**
     * The builds of the tenant that have files (a directory in a category root, or blobs in a
     * remote store) but no row, each with the latest time any of them changed.
     */
    private Map<BuildId, Instant> unknownBuilds(TenantId tenant, boolean withRemotes) throws IOException {
        Map<BuildId, Instant> found = new HashMap<>();
        for (Path root : layout.tenantRoots()) {
            Path builds = layout.tenantDirectory(root, tenant).resolve("builds");
            try {
                if (!SafeTree.isRealDirectoryBelow(root, builds)) {
                    LOG.warn("orphan sweep: {} is reached through a symbolic link; skipped", builds);
                    continue;
                }
            } catch (NoSuchFileException e) {
                continue;
            }
            try (DirectoryStream<Path> entries = Files.newDirectoryStream(builds)) {
                for (Path entry : entries) {
                    buildId(entry.getFileName().toString()).ifPresent(build -> {
                        try {
                            Instant changed = Files.readAttributes(entry, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS)
                                    .lastModifiedTime().toInstant();
                            found.merge(build, changed, OrphanSweep::later);
                        } catch (IOException goneMeanwhile) {
                            // Deleted while listed: nothing to sweep.
                        }
                    });
                }
            }
        }
        for (BlobStore remote : withRemotes ? remotes() : List.<BlobStore>of()) {
            try {
                Iterator<BlobInfo> blobs = remote.list(layout.tenantKeyPrefix(tenant) + "builds/", null);
                while (blobs.hasNext()) {
                    BlobInfo blob = blobs.next();
                    layout.buildOf(blob.key()).ifPresent(ref -> found.merge(ref.build(), blob.lastModified(), OrphanSweep::later));
                }
            } catch (UncheckedIOException e) {
                throw e.getCause();
            }
        }
        List<BuildId> known = metadata.read(h -> BuildRows.ofTenant(h, tenant)).stream().map(build -> build.ref().build()).toList();
        known.forEach(found::remove);
        return found;
    }

    /** What a build's blobs in remote stores take (local directories the quota never counted are not measured). */
    private long remoteBytes(BuildRef ref) throws IOException {
        long bytes = 0;
        for (BlobStore remote : remotes()) {
            try {
                Iterator<BlobInfo> blobs = remote.list(layout.buildKeyPrefix(ref), null);
                while (blobs.hasNext()) {
                    bytes += blobs.next().size();
                }
            } catch (UncheckedIOException e) {
                throw e.getCause();
            }
        }
        return bytes;
    }

    /** The stores whose blobs are not files under the layout's roots (those are found by listing directories). */
    private List<BlobStore> remotes() {
        return plain.backends().stream().filter(store -> !(Stores.primaryOf(store) instanceof FileBlobStore)).toList();
    }

    private static Optional<BuildId> buildId(String name) {
        try {
            return Optional.of(BuildId.of(name));
        } catch (RuntimeException notABuildId) {
            LOG.warn("orphan sweep: '{}' in a builds directory is not a build ID the service creates; left alone", name);
            return Optional.empty();
        }
    }

    private static Instant later(Instant a, Instant b) {
        return a.isAfter(b) ? a : b;
    }
}
