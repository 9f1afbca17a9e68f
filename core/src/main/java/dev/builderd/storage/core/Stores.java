package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ReplicatingBlobStore;
import dev.builderd.storage.blob.TieredBlobStore;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The blob stores the core writes through, one per category, as composed by the caller (the
 * daemon composes them from configuration in one place).
 *
 * @param artifacts rooted so that {@link Layout#artifactKey} lands in the build's {@code rootfs/}
 * @param logs rooted so that {@link Layout#logKey} lands in the build's {@code logs/}
 * @param caches rooted so that a tenant's cache keys land in its {@code cache/} tree; a tenant's
 *     purge empties it with the rest. It may be a {@link TieredBlobStore} over a backend that
 *     other categories share.
 */
public record Stores(BlobStore artifacts, BlobStore logs, BlobStore caches) {

    public Stores {
        Objects.requireNonNull(artifacts, "artifacts");
        Objects.requireNonNull(logs, "logs");
        Objects.requireNonNull(caches, "caches");
    }

    /** One store for every category. */
    public static Stores single(BlobStore store) {
        return new Stores(store, store, store);
    }

    /** These stores with each distinct one replaced by {@code wrap} of it, once: stores shared before stay shared. */
    public Stores map(java.util.function.UnaryOperator<BlobStore> wrap) {
        java.util.Map<BlobStore, BlobStore> wrapped = new java.util.IdentityHashMap<>();
        Stream.of(artifacts, logs, caches).forEach(store -> wrapped.computeIfAbsent(store, wrap));
        return new Stores(wrapped.get(artifacts), wrapped.get(logs), wrapped.get(caches));
    }

    /**
     * Each store once, for walks that list, rewrite or delete every blob: a tiered store stands
     * for the backend behind it, so that such writes go through it and never leave its tiers
     * holding what the backend no longer has.
     */
    public List<BlobStore> distinct() {
        List<BlobStore> all = Stream.of(artifacts, logs, caches).distinct().toList();
        return all.stream()
                .filter(store -> all.stream().noneMatch(other -> other instanceof TieredBlobStore tiered && tiered.remote() == store))
                .toList();
    }

    /** The backends under the stores, each once, without tiers in front: what health checks probe. */
    public List<BlobStore> backends() {
        return Stream.of(artifacts, logs, caches)
                .map(store -> store instanceof TieredBlobStore tiered ? tiered.remote() : store).distinct().toList();
    }

    /**
     * Where {@code store} keeps its blobs first: the primary of a replicating store (whose
     * replica only follows it), else the store itself. For code that asks what kind of backend
     * holds a category's blobs (local files or remote).
     */
    public static BlobStore primaryOf(BlobStore store) {
        return store instanceof ReplicatingBlobStore replicating ? replicating.primary() : store;
    }

    /**
     * The tiers in front of the caches' backend, if any: {@link TieredBlobStore#prefetch} warms an
     * entry into them as stored (ciphertext for an encrypted tenant; nothing is decoded).
     */
    public Optional<TieredBlobStore> cacheTiers() {
        return caches instanceof TieredBlobStore tiered ? Optional.of(tiered) : Optional.empty();
    }
}
