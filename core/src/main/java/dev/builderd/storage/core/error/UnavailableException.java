package dev.builderd.storage.core.error;

/** A backend or the metadata store cannot serve right now. */
public final class UnavailableException extends StorageException {

    public UnavailableException(String message) {
        super(message);
    }

    public UnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
