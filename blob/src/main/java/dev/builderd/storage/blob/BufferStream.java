package dev.builderd.storage.blob;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A blob's bytes handed out as a sequence of buffers rather than copied into the caller's arrays,
 * so that a server can write them to a socket as they are (see {@link BufferReads}).
 *
 * <p>Contract: the buffers, read from position to limit and concatenated, are exactly the bytes
 * {@link BlobStore#open} would return for the same key and range; no buffer is empty. A buffer
 * belongs to the caller until the next call to {@link #next()} or {@link #close()}, after which the
 * stream may refill it: the caller must be done with it by then, and must never write into it. A
 * failure (an {@link IntegrityViolationException} for a damaged encrypted blob) is thrown by the
 * call that reaches it; every buffer handed out before it holds true bytes. Not for concurrent
 * callers.
 */
public interface BufferStream extends Closeable {

    /** The next bytes, or {@code null} at the end. */
    ByteBuffer next() throws IOException;

    /** Releases the stream's buffers and file; a buffer handed out before must no longer be used. */
    @Override
    void close() throws IOException;

    /** A stream that ends at once. */
    static BufferStream empty() {
        return new BufferStream() {
            @Override
            public ByteBuffer next() {
                return null;
            }

            @Override
            public void close() {
            }
        };
    }
}
