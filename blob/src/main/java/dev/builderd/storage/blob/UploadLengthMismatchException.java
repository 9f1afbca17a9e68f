package dev.builderd.storage.blob;

import java.io.IOException;

/**
 * The data given to {@link BlobStore#put} did not have the declared length: the client sent a
 * shorter body than it announced (or disconnected), or a longer one. Nothing was stored.
 */
public final class UploadLengthMismatchException extends IOException {

    private final BlobKey key;
    private final long declared;
    private final long received;

    public UploadLengthMismatchException(BlobKey key, long declared, long received) {
        super("upload of " + key + " declared " + declared + " bytes but "
                + (received > declared ? "more were sent" : "only " + received + " arrived"));
        this.key = key;
        this.declared = declared;
        this.received = received;
    }

    public BlobKey key() {
        return key;
    }

    public long declared() {
        return declared;
    }

    /** Bytes received; for a longer body, {@code declared + 1} (reading stops there). */
    public long received() {
        return received;
    }
}
