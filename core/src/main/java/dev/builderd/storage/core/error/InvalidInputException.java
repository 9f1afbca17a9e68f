package dev.builderd.storage.core.error;

/** The request itself is wrong: a malformed ID, name, body or checksum. */
public final class InvalidInputException extends StorageException {

    public InvalidInputException(String message) {
        super(message);
    }
}
