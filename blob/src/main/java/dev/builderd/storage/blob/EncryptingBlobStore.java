package dev.builderd.storage.blob;

import com.google.crypto.tink.StreamingAead;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.NonWritableChannelException;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.Iterator;
import java.util.Objects;
import java.util.Optional;

/**
 * Encrypts every blob of a delegate store with Tink's streaming AEAD (AES256_GCM_HKDF_1MB), with
 * the UTF-8 bytes of the full key as associated data. Keys look like
 * {@code tenants/{tenant}/...}, so the associated data binds a blob to its tenant and its key: a
 * blob copied or moved to another key or tenant fails to decrypt.
 *
 * <p>Uploads are encrypted while they stream (at most about one segment is held in memory); the
 * delegate is told the exact ciphertext length, or {@code -1} when the plaintext length is
 * unknown. Sizes in {@link BlobInfo} are plaintext sizes. Range reads decrypt only the segments
 * they touch (seekable decryption over ranged reads of the delegate). Any authentication failure
 * is an {@link IntegrityViolationException}; no unauthenticated byte is ever returned.
 */
public final class EncryptingBlobStore implements BlobStore {

    /** Ciphertext segment size of AES256_GCM_HKDF_1MB. */
    public static final int CIPHERTEXT_SEGMENT_SIZE = 1 << 20;
    /** GCM tag at the end of every segment. */
    public static final int TAG_SIZE = 16;
    /** Header: one length byte, a 32-byte HKDF salt and a 7-byte nonce prefix. */
    public static final int HEADER_SIZE = 1 + 32 + 7;
    /** Plaintext bytes per full segment (the first segment holds {@link #HEADER_SIZE} fewer). */
    public static final int PLAINTEXT_SEGMENT_SIZE = CIPHERTEXT_SEGMENT_SIZE - TAG_SIZE;

    private static final int CHUNK = 64 * 1024;

    private final BlobStore delegate;
    private final DataKeys keys;

    public EncryptingBlobStore(BlobStore delegate, DataKeys keys) {
        this.delegate = Objects.requireNonNull(delegate, "delegate");
        this.keys = Objects.requireNonNull(keys, "keys");
    }

    /** The exact ciphertext length of a plaintext of {@code plaintextLength} bytes. */
    public static long ciphertextLength(long plaintextLength) {
        if (plaintextLength < 0) {
            throw new IllegalArgumentException("plaintext length must be >= 0, was " + plaintextLength);
        }
        long total = plaintextLength + HEADER_SIZE;
        long fullSegments = total / PLAINTEXT_SEGMENT_SIZE;
        long rest = total % PLAINTEXT_SEGMENT_SIZE;
        return fullSegments * CIPHERTEXT_SEGMENT_SIZE + (rest > 0 ? rest + TAG_SIZE : 0);
    }

    /**
     * The plaintext length of a ciphertext of {@code ciphertextLength} bytes; 0 for a ciphertext
     * too short to be valid (reading it fails with {@link IntegrityViolationException}).
     */
    public static long plaintextLength(long ciphertextLength) {
        long fullSegments = ciphertextLength / CIPHERTEXT_SEGMENT_SIZE;
        long rest = ciphertextLength % CIPHERTEXT_SEGMENT_SIZE;
        long plain = fullSegments * PLAINTEXT_SEGMENT_SIZE + Math.max(0, rest - TAG_SIZE) - HEADER_SIZE;
        return Math.max(0, plain);
    }

    /** The segment that holds plaintext byte {@code offset}. */
    static long segmentOf(long plaintextOffset) {
        return (plaintextOffset + HEADER_SIZE) / PLAINTEXT_SEGMENT_SIZE;
    }

    private static byte[] associatedData(BlobKey key) {
        return key.value().getBytes(StandardCharsets.UTF_8);
    }

    private StreamingAead aead(BlobKey key) throws IOException {
        return Objects.requireNonNull(keys.forKey(key), "DataKeys gave no primitive");
    }

    private static BlobInfo plain(BlobInfo stored) {
        return new BlobInfo(stored.key(), plaintextLength(stored.size()), stored.lastModified());
    }

    // ---------------------------------------------------------------- writing

    @Override
    public BlobInfo put(BlobKey key, InputStream data, long length, WriteMode mode) throws IOException {
        if (length < -1) {
            throw new IllegalArgumentException("length must be >= -1, was " + length);
        }
        EncryptingInputStream ciphertext = new EncryptingInputStream(key, aead(key), data, length);
        BlobInfo stored = delegate.put(key, ciphertext, length < 0 ? -1 : ciphertextLength(length), mode);
        return new BlobInfo(stored.key(), ciphertext.plaintextRead, stored.lastModified());
    }

    /**
     * Ciphertext of {@code plaintext}, produced as it is read: each read pulls plaintext, feeds the
     * encrypting stream and hands out whatever ciphertext it emitted. No thread, no pipe; a failure
     * of the plaintext stream surfaces in the delegate's read, so nothing is published.
     */
    private static final class EncryptingInputStream extends InputStream {
        private final BlobKey key;
        private final InputStream plaintext;
        private final long declared;
        private final Buffer buffer = new Buffer();
        private final OutputStream encrypter;
        private final byte[] chunk = new byte[CHUNK];
        private int readPos;
        private boolean finished;
        long plaintextRead;

        EncryptingInputStream(BlobKey key, StreamingAead aead, InputStream plaintext, long declared) throws IOException {
            this.key = key;
            this.plaintext = plaintext;
            this.declared = declared;
            try {
                this.encrypter = aead.newEncryptingStream(buffer, associatedData(key));
            } catch (GeneralSecurityException e) {
                throw new IOException("cannot start encrypting blob " + key, e);
            }
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            if (len == 0) {
                return 0;
            }
            while (readPos == buffer.size()) {
                if (finished) {
                    return -1;
                }
                buffer.reset();
                readPos = 0;
                pull();
            }
            int n = Math.min(len, buffer.size() - readPos);
            System.arraycopy(buffer.bytes(), readPos, b, off, n);
            readPos += n;
            return n;
        }

        private void pull() throws IOException {
            int want = CHUNK;
            if (declared >= 0) {
                want = (int) Math.min(CHUNK, declared - plaintextRead + 1);
            }
            int n = plaintext.read(chunk, 0, want);
            if (n < 0) {
                if (declared >= 0 && plaintextRead < declared) {
                    throw new UploadLengthMismatchException(key, declared, plaintextRead);
                }
                encrypter.close();
                finished = true;
                return;
            }
            plaintextRead += n;
            if (declared >= 0 && plaintextRead > declared) {
                throw new UploadLengthMismatchException(key, declared, declared + 1);
            }
            encrypter.write(chunk, 0, n);
        }
    }

    /** A byte sink whose content can be read back without copying. */
    private static final class Buffer extends ByteArrayOutputStream {
        Buffer() {
            super(CIPHERTEXT_SEGMENT_SIZE + CHUNK);
        }

        byte[] bytes() {
            return buf;
        }
    }

    // ---------------------------------------------------------------- reading

    @Override
    public InputStream open(BlobKey key, ByteRange range) throws IOException {
        StreamingAead aead = aead(key);
        if (range.isAll()) {
            RecordingInputStream ciphertext = new RecordingInputStream(delegate.open(key, ByteRange.ALL));
            InputStream plaintext;
            try {
                plaintext = aead.newDecryptingStream(ciphertext, associatedData(key));
            } catch (GeneralSecurityException | IOException e) {
                ciphertext.close();
                throw translate(key, e, ciphertext.failure);
            }
            return new TranslatingInputStream(key, plaintext, ciphertext, Long.MAX_VALUE);
        }
        BlobInfo stored = delegate.stat(key).orElseThrow(() -> new BlobNotFoundException(key));
        try {
            return openRange(key, range, aead, stored);
        } catch (IntegrityViolationException e) {
            // The blob may have been replaced between the stat and the ranged reads: then try once
            // more against the new version; a blob that did not change is really damaged.
            Optional<BlobInfo> now = delegate.stat(key);
            if (now.isEmpty()) {
                throw new BlobNotFoundException(key);
            }
            if (now.get().equals(stored)) {
                throw e;
            }
            return openRange(key, range, aead, now.get());
        }
    }

    /**
     * Range {@code range} of the blob whose ciphertext {@code stored} describes. The first segment
     * the range needs is decrypted (so authenticated) before this returns.
     */
    private InputStream openRange(BlobKey key, ByteRange range, StreamingAead aead, BlobInfo stored) throws IOException {
        long ciphertextSize = stored.size();
        long plaintextSize = plaintextLength(ciphertextSize);
        long wanted = range.lengthWithin(plaintextSize);
        if (wanted == 0) {
            return InputStream.nullInputStream();
        }
        long firstSegment = segmentOf(range.offset());
        long lastSegment = segmentOf(range.offset() + wanted - 1);
        long needStart = firstSegment * CIPHERTEXT_SEGMENT_SIZE;
        long needEnd = Math.min((lastSegment + 1) * CIPHERTEXT_SEGMENT_SIZE, ciphertextSize);
        CiphertextChannel ciphertext = new CiphertextChannel(key, ciphertextSize, needStart, needEnd);
        InputStream result;
        try {
            SeekableByteChannel plaintext = aead.newSeekableDecryptingChannel(ciphertext, associatedData(key));
            plaintext.position(range.offset());
            result = new TranslatingInputStream(key, java.nio.channels.Channels.newInputStream(plaintext), ciphertext, wanted);
        } catch (GeneralSecurityException | IOException e) {
            ciphertext.close();
            throw translate(key, e, ciphertext.failure);
        }
        BufferedInputStream prefetched = new BufferedInputStream(result, CHUNK);
        try {
            prefetched.mark(1);
            prefetched.read();
            prefetched.reset();
        } catch (IOException e) {
            try {
                prefetched.close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        return prefetched;
    }

    /** The delegate's own failure if there was one, else an integrity violation. */
    private static IOException translate(BlobKey key, Exception e, IOException backendFailure) {
        if (backendFailure != null) {
            return backendFailure;
        }
        if (e instanceof IntegrityViolationException integrity) {
            return integrity;
        }
        return new IntegrityViolationException(key, e);
    }

    /** Anything that remembers the last failure of the delegate it reads from. */
    private interface BackendReader {
        IOException failure();
    }

    /** The delegate's ciphertext stream; remembers a failure of the delegate. */
    private static final class RecordingInputStream extends InputStream implements BackendReader {
        private final InputStream in;
        IOException failure;

        RecordingInputStream(InputStream in) {
            this.in = in;
        }

        @Override
        public IOException failure() {
            return failure;
        }

        @Override
        public int read() throws IOException {
            try {
                return in.read();
            } catch (IOException e) {
                failure = e;
                throw e;
            }
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            try {
                return in.read(b, off, len);
            } catch (IOException e) {
                failure = e;
                throw e;
            }
        }

        @Override
        public void close() throws IOException {
            in.close();
        }
    }

    /**
     * Plaintext for the caller: at most {@code remaining} bytes; a decryption failure becomes an
     * {@link IntegrityViolationException}, a failure of the delegate stays what it was.
     */
    private static final class TranslatingInputStream extends InputStream {
        private final BlobKey key;
        private final InputStream plaintext;
        private final BackendReader source;
        private final AutoCloseable ciphertext;
        private long remaining;
        private final boolean bounded;

        TranslatingInputStream(BlobKey key, InputStream plaintext, AutoCloseable ciphertext, long remaining) {
            this.key = key;
            this.plaintext = plaintext;
            this.source = (BackendReader) ciphertext;
            this.ciphertext = ciphertext;
            this.remaining = remaining;
            this.bounded = remaining != Long.MAX_VALUE;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n;
            do {
                n = read(one, 0, 1);
            } while (n == 0);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            Objects.checkFromIndexSize(off, len, b.length);
            if (len == 0) {
                return 0;
            }
            if (remaining == 0) {
                return -1;
            }
            int n = 0;
            try {
                // Tink's seekable channel may return 0 while it loads a segment; it is blocking
                // underneath, so 0 only means "call again".
                for (int zeros = 0; n == 0; zeros++) {
                    if (zeros == 1000) {
                        throw new IOException("decryption made no progress");
                    }
                    n = plaintext.read(b, off, (int) Math.min(len, remaining));
                }
            } catch (IOException | RuntimeException e) {
                throw translate(key, e, source.failure());
            }
            if (n < 0) {
                if (bounded) {
                    throw new IntegrityViolationException(key, new IOException("plaintext ended " + remaining + " bytes early"));
                }
                remaining = 0;
                return -1;
            }
            remaining -= n;
            return n;
        }

        @Override
        public void close() throws IOException {
            try {
                plaintext.close();
            } finally {
                try {
                    ciphertext.close();
                } catch (IOException e) {
                    throw e;
                } catch (Exception e) {
                    throw new IOException(e);
                }
            }
        }
    }

    /**
     * The delegate's ciphertext as a read-only seekable channel of the size it had when the read
     * was opened. The ranges a range read needs (the header and the segments it touches) are
     * opened at once, so the reader keeps seeing the blob as it was when opened; any other
     * position is read with a fresh ranged read of the delegate.
     */
    private final class CiphertextChannel implements SeekableByteChannel, BackendReader {
        private final BlobKey key;
        private final long size;
        private byte[] header = new byte[0];
        private InputStream stream;
        private long streamPos;
        private long streamEnd;
        private long position;
        private boolean open = true;
        IOException failure;

        CiphertextChannel(BlobKey key, long size, long needStart, long needEnd) throws IOException {
            this.key = key;
            this.size = size;
            try {
                if (needStart > 0) {
                    try (InputStream in = delegate.open(key, new ByteRange(0, HEADER_SIZE))) {
                        header = in.readNBytes(HEADER_SIZE);
                    }
                }
                stream = delegate.open(key, new ByteRange(needStart, needEnd - needStart));
            } catch (IOException e) {
                failure = e;
                throw e;
            }
            streamPos = needStart;
            streamEnd = needEnd;
        }

        @Override
        public IOException failure() {
            return failure;
        }

        @Override
        public int read(ByteBuffer dst) throws IOException {
            if (!open) {
                throw new ClosedChannelException();
            }
            if (position >= size) {
                return -1;
            }
            if (!dst.hasRemaining()) {
                return 0;
            }
            if (position < header.length) {
                int n = (int) Math.min(dst.remaining(), header.length - position);
                dst.put(header, (int) position, n);
                position += n;
                return n;
            }
            try {
                if (stream == null || position < streamPos || position >= streamEnd || position - streamPos > CHUNK) {
                    reopen(position);
                } else if (position > streamPos) {
                    stream.skipNBytes(position - streamPos);
                    streamPos = position;
                }
                int want = (int) Math.min(Math.min(dst.remaining(), streamEnd - position), CHUNK);
                byte[] bytes = new byte[want];
                int n = stream.read(bytes, 0, want);
                if (n < 0) {
                    return -1;
                }
                dst.put(bytes, 0, n);
                position += n;
                streamPos += n;
                return n;
            } catch (IOException e) {
                failure = e;
                throw e;
            }
        }

        private void reopen(long from) throws IOException {
            if (stream != null) {
                stream.close();
                stream = null;
            }
            stream = delegate.open(key, new ByteRange(from, size - from));
            streamPos = from;
            streamEnd = size;
        }

        @Override
        public int write(ByteBuffer src) {
            throw new NonWritableChannelException();
        }

        @Override
        public long position() {
            return position;
        }

        @Override
        public SeekableByteChannel position(long newPosition) {
            if (newPosition < 0) {
                throw new IllegalArgumentException("negative position " + newPosition);
            }
            position = newPosition;
            return this;
        }

        @Override
        public long size() {
            return size;
        }

        @Override
        public SeekableByteChannel truncate(long newSize) {
            throw new NonWritableChannelException();
        }

        @Override
        public boolean isOpen() {
            return open;
        }

        @Override
        public void close() throws IOException {
            open = false;
            if (stream != null) {
                InputStream s = stream;
                stream = null;
                s.close();
            }
        }
    }

    // ---------------------------------------------------------------- the rest

    @Override
    public Optional<BlobInfo> stat(BlobKey key) throws IOException {
        return delegate.stat(key).map(EncryptingBlobStore::plain);
    }

    @Override
    public boolean delete(BlobKey key) throws IOException {
        return delegate.delete(key);
    }

    @Override
    public Iterator<BlobInfo> list(String prefix, BlobKey startAfter) throws IOException {
        Iterator<BlobInfo> stored = delegate.list(prefix, startAfter);
        return new Iterator<>() {
            @Override
            public boolean hasNext() {
                return stored.hasNext();
            }

            @Override
            public BlobInfo next() {
                return plain(stored.next());
            }
        };
    }

    @Override
    public String backendName() {
        return delegate.backendName();
    }

    @Override
    public String toString() {
        return "EncryptingBlobStore[" + delegate + "]";
    }
}
