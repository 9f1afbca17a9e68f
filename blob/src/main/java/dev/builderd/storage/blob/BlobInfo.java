package dev.builderd.storage.blob;

import java.time.Instant;

/** What a store knows about one stored blob: its key, its size in bytes and when it was written. */
public record BlobInfo(BlobKey key, long size, Instant lastModified) {
}
