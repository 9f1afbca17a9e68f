package dev.builderd.storage.core.error;

/** Storing this would pass a byte quota. */
public final class QuotaExceededException extends StorageException {

    public QuotaExceededException(String message) {
        super(message);
    }
}
