package dev.builderd.storage.blob;

import java.io.IOException;

/** The path of a key passes through a symbolic link, which a store never follows. */
public final class SymbolicLinkRefusedException extends IOException {

    public SymbolicLinkRefusedException(BlobKey key) {
        super("refusing " + key + ": a directory on its path is a symbolic link, which the store never follows");
    }
}
