package dev.builderd.storage.blob;

import java.io.IOException;

/**
 * A blob failed authentication: its ciphertext was damaged or truncated, it was copied or moved
 * from another key or tenant, or it was written with another keyset. No byte of it is returned.
 * The message names the key, never key material.
 */
public final class IntegrityViolationException extends IOException {

    private final BlobKey key;

    public IntegrityViolationException(BlobKey key, Throwable cause) {
        super("integrity check failed for blob " + key + ": its ciphertext is damaged or truncated, was"
                + " copied from another key or tenant, or was written with another keyset", cause);
        this.key = key;
    }

    public BlobKey key() {
        return key;
    }
}
