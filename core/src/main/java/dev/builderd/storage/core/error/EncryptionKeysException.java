package dev.builderd.storage.core.error;

/**
 * A tenant's data is encrypted but its keys cannot be used (missing, damaged, wrapped by another
 * master key, or destroyed by a purge); nothing of it is read or written until they are restored.
 */
public final class EncryptionKeysException extends StorageException {

    public EncryptionKeysException(String message, Throwable cause) {
        super(message, cause);
    }
}
