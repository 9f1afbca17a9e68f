package dev.builderd.storage.core.error;

/** Stored data failed verification; nothing unverified was returned. */
public final class IntegrityException extends StorageException {

    public IntegrityException(String message) {
        super(message);
    }

    public IntegrityException(String message, Throwable cause) {
        super(message, cause);
    }
}
