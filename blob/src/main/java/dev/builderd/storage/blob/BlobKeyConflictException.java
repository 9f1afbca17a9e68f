package dev.builderd.storage.blob;

import java.io.IOException;

/**
 * A key cannot be stored beside another: in a store where keys become paths, {@code a} and
 * {@code a/b} cannot both be blobs. The caller's choice of key is at fault, not the backend.
 */
public final class BlobKeyConflictException extends IOException {

    public BlobKeyConflictException(BlobKey key, String reason) {
        super("cannot store " + key + ": " + reason + "; a key cannot be both a blob and the directory of other blobs' keys");
    }
}
