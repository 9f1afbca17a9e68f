package dev.builderd.storage.testing;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * Delivers the first {@code failAfter} bytes of another stream, then throws the
 * {@link IOException} {@link #failure()} on every further read: a client that disconnects
 * mid-upload, or a checksum that vetoes it.
 */
public final class FailingInputStream extends FilterInputStream {

    /** The message of the thrown exception, for asserting that it is the one a store passed on. */
    public static final String MESSAGE = "simulated upload failure";

    private final IOException failure = new IOException(MESSAGE);
    private long remaining;

    public FailingInputStream(InputStream in, long failAfter) {
        super(in);
        this.remaining = failAfter;
    }

    /** The exception this stream throws. */
    public IOException failure() {
        return failure;
    }

    @Override
    public int read() throws IOException {
        if (remaining <= 0) {
            throw failure;
        }
        int b = in.read();
        if (b >= 0) {
            remaining--;
        }
        return b;
    }

    @Override
    public int read(byte[] buffer, int offset, int length) throws IOException {
        if (length == 0) {
            return 0;
        }
        if (remaining <= 0) {
            throw failure;
        }
        int n = in.read(buffer, offset, (int) Math.min(length, remaining));
        if (n > 0) {
            remaining -= n;
        }
        return n;
    }

    @Override
    public long skip(long n) throws IOException {
        return super.skip(Math.min(n, remaining));
    }

    @Override
    public boolean markSupported() {
        return false;
    }
}
