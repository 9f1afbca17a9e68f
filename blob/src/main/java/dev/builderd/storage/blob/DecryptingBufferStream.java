package dev.builderd.storage.blob;

import static dev.builderd.storage.blob.EncryptingBlobStore.CIPHERTEXT_SEGMENT_SIZE;
import static dev.builderd.storage.blob.EncryptingBlobStore.ENVELOPE_SIZE;
import static dev.builderd.storage.blob.EncryptingBlobStore.HEADER_SIZE;
import static dev.builderd.storage.blob.EncryptingBlobStore.PLAINTEXT_SEGMENT_SIZE;
import static dev.builderd.storage.blob.EncryptingBlobStore.TAG_SIZE;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.security.GeneralSecurityException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;

/**
 * A range of an encrypted local blob, decrypted segment by segment on another thread into direct
 * buffers while the reader sends the previous ones. It replaces Tink's seekable channel on the hot
 * path of large local reads: positional reads of the ciphertext into a pooled direct buffer, the
 * JDK's AES-GCM segment by segment ({@link SegmentKey.Segments}) into a pooled direct buffer that
 * the reader writes to the socket as it is; no per-segment allocation beyond the cipher's nonce.
 *
 * <p>It decrypts exactly the segments the range touches, each authenticated (with its number and
 * last-segment flag) before any of its bytes is handed out; a read that reaches the end of the blob
 * therefore authenticates its length too. The geometry (segment count, the last segment's size)
 * comes from the file's size when it was opened, as Tink's seekable channel computes it.
 */
final class DecryptingBufferStream implements BufferStream {

    /** Segments decrypted into one buffer: one positional read and one hand-off per this many. */
    static final int SEGMENTS_PER_BUFFER = 4;
    /** Size of every pooled buffer: the ciphertext of {@link #SEGMENTS_PER_BUFFER} segments. */
    static final int BUFFER_BYTES = SEGMENTS_PER_BUFFER * CIPHERTEXT_SEGMENT_SIZE;
    /** Plaintext buffers per stream: one with the reader, the others filled ahead. */
    private static final int DEPTH = 3;

    /** What the producer hands over: a filled buffer, the end, or a failure. */
    private record Item(ByteBuffer buffer, IOException failure) {
        static final Item END = new Item(null, null);
    }

    private final BlobKey key;
    private final FileChannel channel;
    private final SegmentKey.Segments segments;
    private final DirectBuffers pool;
    private final long segmentCount;
    private final long lastCiphertextSize;
    private final long firstSegment;
    private final long lastSegment;
    private final long rangeStart;
    private final long rangeEnd;
    private final BlockingQueue<ByteBuffer> free = new ArrayBlockingQueue<>(DEPTH);
    private final BlockingQueue<Item> filled = new ArrayBlockingQueue<>(DEPTH + 1);
    private final CountDownLatch produced = new CountDownLatch(1);
    private volatile boolean closed;
    private Thread producer;
    /** Owned by the producer: the plaintext buffer it is filling. */
    private ByteBuffer inHand;
    private ByteBuffer current;
    private Item pending;
    private IOException failed;

    private DecryptingBufferStream(BlobKey key, FileChannel channel, SegmentKey.Segments segments, DirectBuffers pool,
            long tinkSize, long rangeStart, long rangeEnd, long firstSegment, long lastSegment) {
        this.key = key;
        this.channel = channel;
        this.segments = segments;
        this.pool = pool;
        long full = tinkSize / CIPHERTEXT_SEGMENT_SIZE;
        long rest = tinkSize % CIPHERTEXT_SEGMENT_SIZE;
        this.segmentCount = rest > 0 ? full + 1 : full;
        this.lastCiphertextSize = rest > 0 ? rest : CIPHERTEXT_SEGMENT_SIZE;
        this.rangeStart = rangeStart;
        this.rangeEnd = rangeEnd;
        this.firstSegment = firstSegment;
        this.lastSegment = lastSegment;
    }

    /**
     * The plaintext size of a Tink ciphertext of {@code tinkSize} bytes (header included), or -1
     * when no valid ciphertext has that size (too short, or a last segment shorter than its tag).
     */
    static long plaintextSize(long tinkSize) {
        long full = tinkSize / CIPHERTEXT_SEGMENT_SIZE;
        long rest = tinkSize % CIPHERTEXT_SEGMENT_SIZE;
        if (rest > 0 && rest < TAG_SIZE) {
            return -1;
        }
        long count = rest > 0 ? full + 1 : full;
        long overhead = count * TAG_SIZE + HEADER_SIZE;
        return count == 0 || overhead > tinkSize ? -1 : tinkSize - overhead;
    }

    /**
     * Starts decrypting {@code range} of the blob in {@code channel} (envelope and Tink ciphertext,
     * {@code channel.size()} bytes) and waits for its first buffer, so that a blob whose first
     * segment does not authenticate fails here. Takes over {@code channel}: the stream closes it;
     * if this throws, the caller does (closing it twice is harmless).
     *
     * @throws IntegrityViolationException if the size is impossible or the first segment does not authenticate
     */
    static BufferStream open(BlobKey key, FileChannel channel, SegmentKey.Segments segments, ByteRange range,
            DirectBuffers pool, Executor executor) throws IOException {
        long tinkSize = channel.size() - ENVELOPE_SIZE;
        long plaintextSize = plaintextSize(tinkSize);
        if (plaintextSize < 0) {
            throw new IntegrityViolationException(key, new GeneralSecurityException("invalid ciphertext size"));
        }
        long wanted = range.lengthWithin(plaintextSize);
        if (wanted == 0 && range.offset() > 0) {
            channel.close();
            return BufferStream.empty();
        }
        // An empty range from the start still authenticates segment 0: an empty blob is checked too.
        long first = wanted == 0 ? 0 : EncryptingBlobStore.segmentOf(range.offset());
        long last = wanted == 0 ? 0 : EncryptingBlobStore.segmentOf(range.offset() + wanted - 1);
        DecryptingBufferStream stream = new DecryptingBufferStream(key, channel, segments, pool, tinkSize,
                range.offset(), range.offset() + wanted, first, last);
        stream.start(executor);
        return stream;
    }

    private void start(Executor executor) throws IOException {
        // No more plaintext buffers than the range fills: a short read holds one, not DEPTH.
        long fills = (lastSegment - firstSegment) / SEGMENTS_PER_BUFFER + 1;
        for (int i = 0; i < Math.min(DEPTH, fills); i++) {
            free.add(pool.take());
        }
        executor.execute(this::produce);
        try {
            pending = take();
            if (pending.failure() != null) {
                throw pending.failure();
            }
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        }
    }

    /** File offset of the first ciphertext byte of {@code segment} (segment 0 starts after the header). */
    private static long ciphertextStart(long segment) {
        return ENVELOPE_SIZE + (segment == 0 ? HEADER_SIZE : segment * CIPHERTEXT_SEGMENT_SIZE);
    }

    private long ciphertextEnd(long segment) {
        return ENVELOPE_SIZE + segment * CIPHERTEXT_SEGMENT_SIZE
                + (segment == segmentCount - 1 ? lastCiphertextSize : CIPHERTEXT_SEGMENT_SIZE);
    }

    /** Plaintext offset of the first byte of {@code segment}. */
    private static long plaintextStart(long segment) {
        return segment == 0 ? 0 : segment * PLAINTEXT_SEGMENT_SIZE - HEADER_SIZE;
    }

    private void produce() {
        synchronized (this) {
            producer = Thread.currentThread();
        }
        ByteBuffer ciphertext = null;
        try {
            ciphertext = pool.take();
            // One segment at a time through heap arrays: the cipher is fastest on arrays, and
            // arrays of one segment stay under half a G1 region of a small heap (not humongous).
            byte[] sealed = new byte[CIPHERTEXT_SEGMENT_SIZE];
            byte[] opened = new byte[CIPHERTEXT_SEGMENT_SIZE];
            for (long segment = firstSegment; segment <= lastSegment && !closed; ) {
                int count = (int) Math.min(SEGMENTS_PER_BUFFER, lastSegment - segment + 1);
                inHand = free.take();
                long from = ciphertextStart(segment);
                readFully(ciphertext.clear().limit((int) (ciphertextEnd(segment + count - 1) - from)), from);
                ciphertext.flip();
                for (long s = segment; s < segment + count; s++) {
                    int length = (int) (ciphertextEnd(s) - ciphertextStart(s));
                    ciphertext.get(sealed, 0, length);
                    inHand.put(opened, 0, segments.decrypt(sealed, length, s, s == segmentCount - 1, opened));
                }
                inHand.flip();
                long offset = plaintextStart(segment);
                inHand.limit((int) Math.min(inHand.limit(), rangeEnd - offset)).position((int) Math.max(0, rangeStart - offset));
                segment += count;
                ByteBuffer done = inHand;
                inHand = null;
                if (done.hasRemaining()) {
                    filled.put(new Item(done, null));
                } else {
                    free.put(done.clear());
                }
            }
            filled.put(Item.END);
        } catch (InterruptedException e) {
            // closed
        } catch (GeneralSecurityException e) {
            filled.offer(new Item(null, new IntegrityViolationException(key, e)));
        } catch (IOException e) {
            filled.offer(new Item(null, e));
        } catch (RuntimeException e) {
            filled.offer(new Item(null, new IOException("decrypting " + key + " failed", e)));
        } finally {
            pool.give(ciphertext);
            pool.give(inHand);
            inHand = null;
            synchronized (this) {
                producer = null;
            }
            produced.countDown();
        }
    }

    private void readFully(ByteBuffer into, long position) throws IOException {
        long at = position;
        while (into.hasRemaining()) {
            int n = channel.read(into, at);
            if (n < 0) {
                throw new IntegrityViolationException(key, new IOException("the ciphertext ended at byte " + at));
            }
            at += n;
        }
    }

    private Item take() throws InterruptedIOException {
        try {
            return filled.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for decrypted bytes of " + key);
        }
    }

    @Override
    public ByteBuffer next() throws IOException {
        if (closed) {
            throw new IOException("stream closed");
        }
        if (failed != null) {
            throw failed;
        }
        if (current != null) {
            free.add(current.clear());
            current = null;
        }
        Item item = pending != null ? pending : take();
        pending = null;
        if (item.failure() != null) {
            failed = item.failure();
            throw failed;
        }
        if (item == Item.END) {
            pending = Item.END;
            return null;
        }
        current = item.buffer();
        return current;
    }

    /** Stops the producer, waits for it to let go of its buffers, and pools them all again. */
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
        boolean interrupted = false;
        while (true) {
            try {
                produced.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        List<ByteBuffer> buffers = new ArrayList<>(free);
        filled.forEach(item -> buffers.add(item.buffer()));
        if (pending != null) {
            buffers.add(pending.buffer());
        }
        buffers.add(current);
        buffers.forEach(pool::give);
        free.clear();
        filled.clear();
        pending = null;
        current = null;
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        channel.close();
    }
}
