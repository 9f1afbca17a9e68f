package dev.builderd.storage.core;

import dev.builderd.storage.blob.IntegrityViolationException;
import dev.builderd.storage.blob.BlobKeyConflictException;
import dev.builderd.storage.blob.SymbolicLinkRefusedException;
import dev.builderd.storage.core.crypto.KeysUnavailableException;
import dev.builderd.storage.core.quota.Reservation;
import dev.builderd.storage.core.error.ConflictException;
import dev.builderd.storage.core.error.EncryptionKeysException;
import dev.builderd.storage.core.error.IntegrityException;
import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.error.QuotaExceededException;
import dev.builderd.storage.core.error.StorageException;
import dev.builderd.storage.core.error.UnavailableException;
import dev.builderd.storage.blob.BlobNotFoundException;
import dev.builderd.storage.blob.UploadLengthMismatchException;
import java.io.IOException;

/** The one place where I/O failures of the blob layer become {@link StorageException}s. */
final class IoErrors {

    private IoErrors() {
    }

    /** Translates {@code e}, which happened while doing {@code what} (e.g. "storing artifact x of build t/b"). */
    static StorageException translate(IOException e, String what) {
        if (e instanceof BodyReadException body) {
            return new InvalidInputException("the request body broke off while " + what + ": " + body.getMessage()
                    + "; nothing was stored");
        }
        if (e instanceof ChecksumMismatchException mismatch) {
            return new InvalidInputException(mismatch.getMessage() + "; nothing was stored");
        }
        if (e instanceof UploadLengthMismatchException mismatch) {
            return new InvalidInputException(mismatch.getMessage() + "; nothing was stored");
        }
        if (e instanceof IntegrityViolationException violation) {
            return new IntegrityException("stored data failed verification while " + what + ": " + violation.getMessage()
                    + "; nothing unverified was returned", violation);
        }
        if (e instanceof Reservation.QuotaStreamException quota) {
            return quota.refusal();
        }
        if (e instanceof KeysUnavailableException unavailable) {
            return new EncryptionKeysException(unavailable.getMessage() + " (while " + what + ")", unavailable);
        }
        if (e instanceof SymbolicLinkRefusedException refused) {
            return new ConflictException(refused.getMessage() + " (planted in the build's tree; remove it)");
        }
        if (e instanceof BlobKeyConflictException conflict) {
            return new ConflictException(conflict.getMessage() + " (while " + what + ")");
        }
        if (e instanceof BlobNotFoundException missing) {
            return new NotFoundException("stored data is missing while " + what + ": " + missing.getMessage());
        }
        String message = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        if (message.contains("No space left on device")) {
            return new QuotaExceededException("the storage device is full while " + what + "; nothing was stored");
        }
        return new UnavailableException("storage failed while " + what + ": " + message, e);
    }

    /** A read of the client's request body failed: the client broke off, or sent too little. */
    static final class BodyReadException extends IOException {
        BodyReadException(IOException cause) {
            super(cause.getMessage() == null ? "connection closed" : cause.getMessage(), cause);
        }
    }

    /** The body did not have the SHA-256 the client declared. */
    static final class ChecksumMismatchException extends IOException {
        ChecksumMismatchException(String expected, String actual) {
            super("the body's SHA-256 is " + actual + " but " + expected + " was declared (by X-Checksum-Sha256, or as the"
                    + " layer's digest)");
        }
    }
}
