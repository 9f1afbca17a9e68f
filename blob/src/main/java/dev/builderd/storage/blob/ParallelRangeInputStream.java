package dev.builderd.storage.blob;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Objects;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;

/**
 * Bytes {@code [from, end)} of a blob, fetched as ranges of {@code partSize} bytes by up to
 * {@code window} concurrent fetches that run ahead of the reader. Used by the remote stores
 * (S3, Azure, GCS) to read large ranges as parallel ranged requests (see {@link ParallelIo}).
 *
 * <p>Contract:
 * <ul>
 *   <li><b>Order.</b> Parts are delivered in offset order, whatever order their fetches finish
 *       in; the stream's bytes are exactly the parts' bytes concatenated.
 *   <li><b>Bounded memory.</b> At most {@code window} parts are fetched ahead (in flight or
 *       waiting), plus the one being read: at most {@code (window + 1) × partSize} bytes. A new
 *       fetch is started only when the reader takes a part.
 *   <li><b>Failures.</b> A fetch that throws fails the read that reaches its part with an
 *       {@link IOException} carrying the fetcher's message (its {@link RuntimeException}s are
 *       rethrown as they are); bytes before that part are delivered normally. Which checks make a
 *       part fail (for instance a version precondition) is the fetcher's business.
 *   <li><b>Close.</b> {@link #close()} cancels (interrupting) every fetch not yet taken and drops
 *       the buffered parts; it does not wait for them. Reads after close throw.
 * </ul>
 *
 * <p>Not thread-safe for concurrent readers (like any {@link InputStream}); the fetcher must be
 * safe to call from several threads at once.
 */
public final class ParallelRangeInputStream extends InputStream {

    /** Fetches exactly {@code length} bytes at {@code offset}, or throws. */
    @FunctionalInterface
    public interface PartFetcher {
        byte[] fetch(long offset, int length) throws IOException;
    }

    private final PartFetcher fetcher;
    private final ExecutorService executor;
    private final long end;
    private final int partSize;
    private final int window;
    private final Deque<Future<byte[]>> ahead = new ArrayDeque<>();
    private long nextOffset;
    private byte[] current = new byte[0];
    private int position;
    private boolean closed;

    /**
     * Starts fetching at once.
     *
     * @param fetcher fetches one part; called from {@code executor}'s threads
     * @param executor runs the fetches (the caller owns it and shuts it down)
     * @param from the first byte's offset
     * @param end the offset just past the last byte ({@code >= from})
     * @param partSize the size of every part but the last
     * @param window how many parts are fetched ahead at most
     */
    public ParallelRangeInputStream(PartFetcher fetcher, ExecutorService executor, long from, long end, int partSize, int window) {
        if (from < 0 || end < from || partSize < 1 || window < 1) {
            throw new IllegalArgumentException("from " + from + ", end " + end + ", part size " + partSize + ", window " + window);
        }
        this.fetcher = Objects.requireNonNull(fetcher, "fetcher");
        this.executor = Objects.requireNonNull(executor, "executor");
        this.nextOffset = from;
        this.end = end;
        this.partSize = partSize;
        this.window = window;
        fillWindow();
    }

    private void fillWindow() {
        while (ahead.size() < window && nextOffset < end) {
            long offset = nextOffset;
            int length = (int) Math.min(partSize, end - offset);
            ahead.addLast(executor.submit(() -> fetcher.fetch(offset, length)));
            nextOffset += length;
        }
    }

    /** Makes {@link #current} hold unread bytes; false at the end. */
    private boolean advance() throws IOException {
        if (closed) {
            throw new IOException("stream closed");
        }
        while (position >= current.length) {
            Future<byte[]> next = ahead.pollFirst();
            if (next == null) {
                return false;
            }
            current = await(next);
            position = 0;
            fillWindow();
        }
        return true;
    }

    private static byte[] await(Future<byte[]> future) throws IOException {
        try {
            return future.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            InterruptedIOException interrupted = new InterruptedIOException("interrupted while waiting for a part of the blob");
            interrupted.initCause(e);
            throw interrupted;
        } catch (CancellationException e) {
            throw new IOException("the read of a part of the blob was cancelled", e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof IOException io) {
                throw new IOException(io.getMessage(), io);
            }
            if (cause instanceof RuntimeException runtime) {
                throw runtime;
            }
            throw new IOException(String.valueOf(cause), cause);
        }
    }

    @Override
    public int read() throws IOException {
        if (!advance()) {
            return -1;
        }
        return current[position++] & 0xff;
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
        int n = Math.min(length, current.length - position);
        System.arraycopy(current, position, buffer, offset, n);
        position += n;
        return n;
    }

    @Override
    public int available() {
        return closed ? 0 : current.length - position;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (Future<byte[]> future : ahead) {
            future.cancel(true);
        }
        ahead.clear();
        current = new byte[0];
    }
}
