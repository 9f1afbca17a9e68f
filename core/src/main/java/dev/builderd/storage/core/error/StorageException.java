package dev.builderd.storage.core.error;

/**
 * Everything the core reports to its callers. The family is closed, so that the HTTP edge maps
 * each kind to a status in one exhaustive switch. Messages are written for the person who reads
 * them: they name what was wrong and, where it helps, what to do; they never contain secrets.
 */
public abstract sealed class StorageException extends RuntimeException
        permits NotFoundException, AlreadyExistsException, ConflictException, InvalidInputException,
        ForbiddenException, LimitExceededException, QuotaExceededException, IntegrityException,
        UnavailableException, EncryptionKeysException, MisdirectedException {

    protected StorageException(String message) {
        super(message);
    }

    protected StorageException(String message, Throwable cause) {
        super(message, cause);
    }
}
