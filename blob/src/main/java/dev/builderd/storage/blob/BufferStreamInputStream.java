package dev.builderd.storage.blob;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.Objects;

/** A {@link BufferStream} read as an {@link InputStream}, for callers that want arrays; closing it closes the source. */
final class BufferStreamInputStream extends InputStream {

    private final BufferStream source;
    private ByteBuffer current;
    private boolean ended;

    BufferStreamInputStream(BufferStream source) {
        this.source = Objects.requireNonNull(source, "source");
    }

    /** Makes {@link #current} hold unread bytes; false at the end. */
    private boolean advance() throws IOException {
        while (current == null || !current.hasRemaining()) {
            if (ended) {
                return false;
            }
            current = source.next();
            if (current == null) {
                ended = true;
                return false;
            }
        }
        return true;
    }

    @Override
    public int read() throws IOException {
        return advance() ? current.get() & 0xff : -1;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        Objects.checkFromIndexSize(off, len, b.length);
        if (len == 0) {
            return 0;
        }
        if (!advance()) {
            return -1;
        }
        int n = Math.min(len, current.remaining());
        current.get(b, off, n);
        return n;
    }

    @Override
    public void close() throws IOException {
        current = null;
        source.close();
    }
}
