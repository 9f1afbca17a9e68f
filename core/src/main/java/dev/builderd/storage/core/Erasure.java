package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.TenantId;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.function.Function;

/**
 * Deletes everything kept for a tenant or a build: its blobs in every store, then its
 * directories in every category root (never following links). Callers remove the metadata
 * first, so that a crash half-way leaves only files without metadata, which are safe to find
 * and delete later.
 */
final class Erasure {

    private final Layout layout;
    private final Stores stores;

    Erasure(Layout layout, Stores stores) {
        this.layout = layout;
        this.stores = stores;
    }

    void eraseTenant(TenantId tenant) {
        erase(layout.tenantKeyPrefix(tenant), root -> layout.tenantDirectory(root, tenant), "tenant " + tenant);
    }

    void eraseBuild(BuildRef ref) {
        erase(layout.buildKeyPrefix(ref), root -> layout.buildDirectory(root, ref), "build " + ref);
    }

    /** Deletes only the build's directories on this node, in every category root, and none of its blobs. */
    void eraseBuildDirectories(BuildRef ref) {
        erase(List.of(), layout.buildKeyPrefix(ref), root -> layout.buildDirectory(root, ref), "build " + ref);
    }

    private void erase(String keyPrefix, Function<Path, Path> directoryUnder, String what) {
        erase(stores.distinct(), keyPrefix, directoryUnder, what);
    }

    private void erase(List<BlobStore> blobStores, String keyPrefix, Function<Path, Path> directoryUnder, String what) {
        try {
            for (BlobStore store : blobStores) {
                Iterator<BlobInfo> blobs = store.list(keyPrefix, null);
                while (blobs.hasNext()) {
                    store.delete(blobs.next().key());
                }
            }
            for (Path root : layout.tenantRoots()) {
                SafeTree.delete(root, directoryUnder.apply(root));
            }
        } catch (IOException e) {
            throw IoErrors.translate(e, "deleting the files of " + what + " (its metadata is already gone)");
        } catch (UncheckedIOException e) {
            throw IoErrors.translate(e.getCause(), "deleting the files of " + what + " (its metadata is already gone)");
        }
    }
}
