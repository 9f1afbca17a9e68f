package dev.builderd.storage.blob.s3;

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
 * {@code window} concurrent fetches that run ahead of the reader, delivered in order. Memory is
 * bounded: at most {@code window} fetched parts wait, plus the one being read.
 */
final class ParallelRangeInputStream extends InputStream {

    /** Fetches exactly {@code length} bytes at {@code offset}, or throws. */
    @FunctionalInterface
    interface PartFetcher {
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

    ParallelRangeInputStream(PartFetcher fetcher, ExecutorService executor, long from, long end, int partSize, int window) {
        this.fetcher = fetcher;
        this.executor = executor;
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
