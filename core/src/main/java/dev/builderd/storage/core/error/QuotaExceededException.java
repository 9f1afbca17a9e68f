package dev.builderd.storage.core.error;

import java.util.Optional;

/** Storing this would pass a byte quota (or the storage device is full). */
public final class QuotaExceededException extends StorageException {

    /**
     * The figures behind a refusal by a tenant's quota, for the problem body.
     *
     * @param scope {@code total} or the category whose limit would be passed
     * @param limitBytes the limit
     * @param usedBytes what is stored and held by uploads in flight
     * @param requestedBytes what the refused write needed
     */
    public record Figures(String scope, long limitBytes, long usedBytes, long requestedBytes) {
    }

    private final transient Figures figures;

    public QuotaExceededException(String message) {
        this(message, null);
    }

    public QuotaExceededException(String message, Figures figures) {
        super(message);
        this.figures = figures;
    }

    public Optional<Figures> figures() {
        return Optional.ofNullable(figures);
    }
}
