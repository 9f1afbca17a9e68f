package dev.builderd.storage.core;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.Semaphore;

/**
 * Computes the SHA-256 of an upload as it streams through, and vetoes it at the end: when an
 * expected digest was given and the data does not match, the final read throws, so a store
 * never publishes it. Failures of the underlying stream are reported as
 * {@link IoErrors.BodyReadException}, to tell a broken client from a broken disk.
 *
 * <p>SHA-256 is the CPU cost of an upload (about 1.1 to 1.6 GB/s per core), so the bytes are
 * hashed on another thread, in 1 MiB chunks and in order, while the caller goes on reading and
 * writing; at most {@value #CHUNKS_IN_FLIGHT} chunks wait at a time, which bounds the memory.
 */
final class HashingInputStream extends FilterInputStream {

    /** The first chunk is small, so that small uploads cost little memory. */
    private static final int FIRST_CHUNK_BYTES = 64 << 10;
    private static final int CHUNK_BYTES = 1 << 20;
    private static final int CHUNKS_IN_FLIGHT = 4;
    private static final Executor HASHER = task -> Thread.ofVirtual().name("sha256").start(task);

    private final MessageDigest digest;
    private final String expectedSha256;
    private final Semaphore inFlight = new Semaphore(CHUNKS_IN_FLIGHT);
    private final BlockingQueue<byte[]> hashedChunks = new ArrayBlockingQueue<>(CHUNKS_IN_FLIGHT + 1);
    private CompletableFuture<Void> hashed = CompletableFuture.completedFuture(null);
    private byte[] chunk = new byte[FIRST_CHUNK_BYTES];
    private int filled;
    private String sha256;

    /** @param expectedSha256 lowercase hex, or null to accept any content */
    HashingInputStream(InputStream in, String expectedSha256) {
        super(in);
        this.expectedSha256 = expectedSha256;
        try {
            this.digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] buffer, int offset, int length) throws IOException {
        int n;
        try {
            n = in.read(buffer, offset, length);
        } catch (IOException e) {
            throw new IoErrors.BodyReadException(e);
        }
        if (n > 0) {
            collect(buffer, offset, n);
        } else if (n < 0) {
            finish();
        }
        return n;
    }

    @Override
    public long skip(long n) {
        return 0;
    }

    private void collect(byte[] buffer, int offset, int length) throws IOException {
        while (length > 0) {
            int taken = Math.min(length, chunk.length - filled);
            System.arraycopy(buffer, offset, chunk, filled, taken);
            filled += taken;
            offset += taken;
            length -= taken;
            if (filled == chunk.length) {
                hashChunkInBackground();
            }
        }
    }

    private void hashChunkInBackground() throws IOException {
        try {
            inFlight.acquire();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while hashing", e);
        }
        byte[] full = chunk;
        int length = filled;
        hashed = hashed.thenRunAsync(() -> {
            digest.update(full, 0, length);
            if (full.length == CHUNK_BYTES) {
                hashedChunks.offer(full);
            }
            inFlight.release();
        }, HASHER);
        byte[] reused = hashedChunks.poll();
        chunk = reused != null ? reused : new byte[CHUNK_BYTES];
        filled = 0;
    }

    private void finish() throws IOException {
        if (sha256 == null) {
            hashed.join();
            digest.update(chunk, 0, filled);
            sha256 = HexFormat.of().formatHex(digest.digest());
        }
        if (expectedSha256 != null && !expectedSha256.equals(sha256)) {
            throw new IoErrors.ChecksumMismatchException(expectedSha256, sha256);
        }
    }

    /** The SHA-256 of everything read, in lowercase hex; only once the end was reached. */
    String sha256() {
        if (sha256 == null) {
            throw new IllegalStateException("the stream was not read to its end");
        }
        return sha256;
    }
}
