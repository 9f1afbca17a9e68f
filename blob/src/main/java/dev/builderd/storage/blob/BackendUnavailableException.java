package dev.builderd.storage.blob;

import java.io.IOException;

/**
 * The backend is failing, hanging or known to be failing, so the call failed fast instead of
 * hanging: a tripped circuit breaker, or a remote tier that did not answer in time.
 */
public final class BackendUnavailableException extends IOException {

    public BackendUnavailableException(String message) {
        super(message);
    }

    public BackendUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
