package dev.builderd.storage.blob;

import java.io.IOException;

/** The backend is known to be failing, so the call was not attempted: it fails fast instead of hanging. */
public final class BackendUnavailableException extends IOException {

    public BackendUnavailableException(String message) {
        super(message);
    }
}
