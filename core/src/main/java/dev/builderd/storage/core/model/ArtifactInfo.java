package dev.builderd.storage.core.model;

import java.time.Instant;

/** A published artifact: its name, size in bytes, SHA-256 (lowercase hex) and when it was published. */
public record ArtifactInfo(FileName name, long size, String sha256, Instant created) {
}
