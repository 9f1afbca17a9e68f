package dev.builderd.storage.core.error;

/** The caller is known but may not do this. */
public final class ForbiddenException extends StorageException {

    public ForbiddenException(String message) {
        super(message);
    }
}
