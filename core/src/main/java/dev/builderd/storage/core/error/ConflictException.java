package dev.builderd.storage.core.error;

/** The request does not fit the current state, such as uploading to a completed build. */
public final class ConflictException extends StorageException {

    public ConflictException(String message) {
        super(message);
    }
}
