package dev.builderd.storage.core.error;

/** Creating something that exists already. */
public final class AlreadyExistsException extends StorageException {

    public AlreadyExistsException(String message) {
        super(message);
    }
}
