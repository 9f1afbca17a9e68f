package dev.builderd.storage.core.error;

/** The thing asked for does not exist (or the caller may not know that it does). */
public final class NotFoundException extends StorageException {

    public NotFoundException(String message) {
        super(message);
    }
}
