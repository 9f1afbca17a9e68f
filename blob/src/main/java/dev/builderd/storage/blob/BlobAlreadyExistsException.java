package dev.builderd.storage.blob;

import java.nio.file.FileAlreadyExistsException;

/** A {@link WriteMode#CREATE_NEW} put found the key already taken. The message names the key. */
public final class BlobAlreadyExistsException extends FileAlreadyExistsException {

    private final BlobKey key;

    public BlobAlreadyExistsException(BlobKey key) {
        super(key.value(), null, "blob already exists");
        this.key = key;
    }

    public BlobKey key() {
        return key;
    }

    @Override
    public String getMessage() {
        return "blob already exists: " + key;
    }
}
