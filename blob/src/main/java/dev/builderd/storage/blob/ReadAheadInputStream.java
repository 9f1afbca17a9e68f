package dev.builderd.storage.blob;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Executor;

/**
 * Reads another stream ahead of its reader on another thread, into a few buffers, so that the
 * work of producing the bytes (decrypting them, say) overlaps the reader's work with them
 * (writing them to a socket) instead of adding to it.
 *
 * <p>Contract: the bytes are exactly the source's, in order. At most {@code depth} buffers of
 * {@code bufferSize} bytes are filled ahead. A failure of the source is thrown by the read that
 * reaches it, as it was thrown (bytes before it are delivered). {@link #close()} stops the
 * producer and closes the source. Not for concurrent readers.
 */
public final class ReadAheadInputStream extends InputStream {

    /** What the producer hands over: a filled buffer, the end, or a failure. */
    private record Chunk(byte[] bytes, int length, IOException failure) {
        static final Chunk END = new Chunk(null, -1, null);
    }

    private final InputStream source;
    private final BlockingQueue<byte[]> free;
    private final BlockingQueue<Chunk> filled;
    private volatile boolean closed;
    private Thread producer;
    private Chunk current;
    private int position;

    /**
     * Starts reading ahead at once.
     *
     * @param executor runs the producer (one task for the stream's life)
     */
    public ReadAheadInputStream(InputStream source, int bufferSize, int depth, Executor executor) {
        this.source = Objects.requireNonNull(source, "source");
        if (bufferSize < 1 || depth < 1) {
            throw new IllegalArgumentException("buffer size " + bufferSize + ", depth " + depth);
        }
        this.free = new ArrayBlockingQueue<>(depth + 1);
        this.filled = new ArrayBlockingQueue<>(depth + 2);
        for (int i = 0; i <= depth; i++) {
            free.add(new byte[bufferSize]);
        }
        executor.execute(this::produce);
    }

    private void produce() {
        synchronized (this) {
            producer = Thread.currentThread();
        }
        try {
            while (!closed) {
                byte[] buffer = free.take();
                int n = source.readNBytes(buffer, 0, buffer.length);
                if (n > 0) {
                    filled.put(new Chunk(buffer, n, null));
                }
                if (n < buffer.length) {
                    filled.put(Chunk.END);
                    return;
                }
            }
        } catch (InterruptedException e) {
            // closed
        } catch (IOException e) {
            filled.offer(new Chunk(null, -1, e));
        } catch (RuntimeException e) {
            filled.offer(new Chunk(null, -1, new IOException(e.getMessage(), e)));
        }
    }

    /** Makes {@link #current} hold unread bytes; false at the end. */
    private boolean advance() throws IOException {
        if (closed) {
            throw new IOException("stream closed");
        }
        while (current == null || position >= current.length()) {
            if (current == Chunk.END) {
                return false;
            }
            if (current != null && current.bytes() != null) {
                free.offer(current.bytes());
            }
            try {
                current = filled.take();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while waiting for the next bytes");
            }
            position = 0;
            if (current.failure() != null) {
                IOException failure = current.failure();
                current = Chunk.END;
                throw failure;
            }
        }
        return true;
    }

    @Override
    public int read() throws IOException {
        if (!advance()) {
            return -1;
        }
        return current.bytes()[position++] & 0xff;
    }

    @Override
    public int read(byte[] buffer, int offset, int length) throws IOException {
        Objects.checkFromIndexSize(offset, length, buffer.length);
        if (length == 0) {
            return 0;
        }
        if (!advance()) {
            return -1;
        }
        int n = Math.min(length, current.length() - position);
        System.arraycopy(current.bytes(), position, buffer, offset, n);
        position += n;
        return n;
    }

    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        synchronized (this) {
            if (producer != null) {
                producer.interrupt();
            }
        }
        source.close();
    }
}
