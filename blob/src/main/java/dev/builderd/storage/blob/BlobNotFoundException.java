package dev.builderd.storage.blob;

import java.nio.file.NoSuchFileException;

/** The blob does not exist. The message names the key. */
public final class BlobNotFoundException extends NoSuchFileException {

    private final BlobKey key;

    public BlobNotFoundException(BlobKey key) {
        super(key.value(), null, "no such blob");
        this.key = key;
    }

    public BlobKey key() {
        return key;
    }

    @Override
    public String getMessage() {
        return "no such blob: " + key;
    }
}
