package dev.builderd.storage.core;

import java.io.OutputStream;

/** Output stream helpers. */
final class OutputStreams {

    /** Drops everything written to it. */
    static final OutputStream DISCARD = OutputStream.nullOutputStream();

    private OutputStreams() {
    }
}
