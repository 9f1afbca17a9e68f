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
 */
public record Stores(BlobStore artifacts, BlobStore logs) {

    public Stores {
        Objects.requireNonNull(artifacts, "artifacts");
        Objects.requireNonNull(logs, "logs");
    }

    /** Each distinct store once. */
    public List<BlobStore> distinct() {
        return artifacts == logs ? List.of(artifacts) : List.of(artifacts, logs);
    }
}
