package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobStore;
import java.util.List;
import java.util.Objects;

/**
 * The blob stores the core writes through, one per category, as composed by the caller (the
 * daemon composes them from configuration in one place).
 *
 * @param artifacts rooted so that {@link Layout#artifactKey} lands in the build's {@code rootfs/}
 * @param logs rooted so that {@link Layout#logKey} lands in the build's {@code logs/}
 * @param caches rooted so that a tenant's cache keys land in its {@code cache/} tree; a tenant's
 *     purge empties it with the rest
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
        distinct().forEach(store -> wrapped.put(store, wrap.apply(store)));
        return new Stores(wrapped.get(artifacts), wrapped.get(logs), wrapped.get(caches));
    }

    /** Each distinct store once. */
    public List<BlobStore> distinct() {
        return java.util.stream.Stream.of(artifacts, logs, caches).distinct().toList();
    }
}
