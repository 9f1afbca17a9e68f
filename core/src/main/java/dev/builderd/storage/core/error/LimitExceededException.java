package dev.builderd.storage.core.error;

/** A count limit of the tenant's tier is reached, such as concurrent builds; retrying later may succeed. */
public final class LimitExceededException extends StorageException {

    public LimitExceededException(String message) {
        super(message);
    }
}
