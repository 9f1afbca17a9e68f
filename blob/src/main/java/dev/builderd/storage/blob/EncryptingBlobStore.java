package dev.builderd.storage.blob;

import com.google.crypto.tink.StreamingAead;
import com.google.crypto.tink.streamingaead.AesGcmHkdfStreamingParameters;
import java.io.BufferedInputStream;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.SequenceInputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.NonWritableChannelException;
import java.nio.channels.SeekableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.util.Iterator;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import java.util.function.Consumer;

/**
 * Encrypts the blobs of owners that have a {@link DataKeyring} with Tink's streaming AEAD
 * (AES-256-GCM with HKDF, {@value #CIPHERTEXT_SEGMENT_SIZE}-byte segments), with the UTF-8 bytes
 * of the full key as associated data. Keys look like {@code tenants/{tenant}/...}, so the
 * associated data binds a blob to its tenant and its key: a blob copied or moved to another key
 * or tenant fails to decrypt. Blobs of owners without a keyring pass through unchanged, with the
 * delegate's own capabilities ({@link FileChannelReads}, {@link FileAdoption}).
 *
 * <p>An encrypted blob is an envelope, the owner's {@value DataKeyring#MARKER_SIZE}-byte marker
 * and the 4-byte id of the key that encrypted it, followed by Tink's ciphertext. The envelope is
 * what tells an encrypted blob from a plaintext one written before its owner turned encryption
 * on (readable while {@link DataKeyring} accepts plaintext), and which key to decrypt with.
 *
 * <p>Uploads are encrypted while they stream (at most about one segment is held in memory); the
 * delegate is told the exact ciphertext length, or {@code -1} when the plaintext length is
 * unknown. Sizes in {@link BlobInfo} are plaintext sizes. Range reads decrypt only the segments
 * they touch (seekable decryption over ranged reads of the delegate), so a 1 MiB range reads at
 * most 1.5 MiB of ciphertext. Any authentication failure is an
 * {@link IntegrityViolationException}; no unauthenticated byte is ever returned.
 *
 * <p>Large reads of a local delegate ({@link FileChannelReads}) do not go through Tink's
 * channels: {@link DecryptingBufferStream} decrypts the same format with the JDK's cipher into
 * pooled direct buffers, ahead of the reader, and {@link #openBuffers} hands those buffers to a
 * server as they are. Tink writes every blob and reads everything else.
 */
public final class EncryptingBlobStore implements BlobStore, FileChannelReads, FileAdoption, BufferReads {

    /**
     * Ciphertext segment size. Not Tink's predefined 1 MB: with 1 MB segments a 1 MiB range that
     * straddles two segment boundaries must authenticate three segments (3 MiB); with 256 KiB it
     * reads at most 1.5 MiB, at the same throughput.
     */
    public static final int CIPHERTEXT_SEGMENT_SIZE = 256 * 1024;
    /** GCM tag at the end of every segment. */
    public static final int TAG_SIZE = 16;
    /** Tink's header: one length byte, a 32-byte HKDF salt and a 7-byte nonce prefix. */
    public static final int HEADER_SIZE = 1 + 32 + 7;
    /** Plaintext bytes per full segment (the first segment holds {@link #HEADER_SIZE} fewer). */
    public static final int PLAINTEXT_SEGMENT_SIZE = CIPHERTEXT_SEGMENT_SIZE - TAG_SIZE;
    /** Before Tink's ciphertext: the owner's marker and the id of the key used. */
    public static final int ENVELOPE_SIZE = DataKeyring.MARKER_SIZE + Integer.BYTES;
    /** The parameters of every data key. */
    public static final AesGcmHkdfStreamingParameters KEY_PARAMETERS = keyParameters();

    private static final int CHUNK = 64 * 1024;
    /** Reads of local blobs asking for at least this much are decrypted ahead of the reader. */
    private static final long READ_AHEAD_FROM = 4L * CIPHERTEXT_SEGMENT_SIZE;
    /** Direct buffers kept for local reads: a few reads' worth, the rest is freed by the collector. */
    private static final int POOLED_BUFFERS = 16;

    private final BlobStore delegate;
    private final DataKeys keys;
    private final Consumer<BlobKey> integrityFailures;
    /** Runs the decryption ahead of local reads; virtual threads, nothing to shut down. */
    private final Executor decryptor = Executors.newVirtualThreadPerTaskExecutor();
    private final DirectBuffers buffers = new DirectBuffers(DecryptingBufferStream.BUFFER_BYTES, POOLED_BUFFERS);

    public EncryptingBlobStore(BlobStore delegate, DataKeys keys) {
        this(delegate, keys, key -> { });
    }

    /**
     * @param integrityFailures told the key of every read that fails authentication (once per
     *     failed read), for a metric; it must not throw
     */
    public EncryptingBlobStore(BlobStore delegate, DataKeys keys, Consumer<BlobKey> integrityFailures) {
        this.delegate = Objects.requireNonNull(delegate, "delegate");
        this.keys = Objects.requireNonNull(keys, "keys");
        this.integrityFailures = Objects.requireNonNull(integrityFailures, "integrityFailures");
    }

    private static AesGcmHkdfStreamingParameters keyParameters() {
        try {
            return AesGcmHkdfStreamingParameters.builder()
                    .setKeySizeBytes(32)
                    .setDerivedAesGcmKeySizeBytes(32)
                    .setHkdfHashType(AesGcmHkdfStreamingParameters.HashType.SHA256)
                    .setCiphertextSegmentSizeBytes(CIPHERTEXT_SEGMENT_SIZE)
                    .build();
        } catch (GeneralSecurityException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** The exact stored length (envelope and ciphertext) of a plaintext of {@code plaintextLength} bytes. */
    public static long ciphertextLength(long plaintextLength) {
        if (plaintextLength < 0) {
            throw new IllegalArgumentException("plaintext length must be >= 0, was " + plaintextLength);
        }
        long total = plaintextLength + HEADER_SIZE;
        long fullSegments = total / PLAINTEXT_SEGMENT_SIZE;
        long rest = total % PLAINTEXT_SEGMENT_SIZE;
        return ENVELOPE_SIZE + fullSegments * CIPHERTEXT_SEGMENT_SIZE + (rest > 0 ? rest + TAG_SIZE : 0);
    }

    /**
     * The plaintext length of an encrypted blob of {@code storedLength} bytes; 0 for one too short
     * to be valid (reading it fails with {@link IntegrityViolationException}).
     */
    public static long plaintextLength(long storedLength) {
        long tink = Math.max(0, storedLength - ENVELOPE_SIZE);
        long fullSegments = tink / CIPHERTEXT_SEGMENT_SIZE;
        long rest = tink % CIPHERTEXT_SEGMENT_SIZE;
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

    private Optional<DataKeyring> keyring(BlobKey key) throws IOException {
        return Objects.requireNonNull(keys.forKey(key), "DataKeys gave null");
    }

    /** What the first bytes of a stored blob say it is. */
    private sealed interface Envelope {
        /** No marker: a plaintext blob, if the owner still accepts those. */
        record Plaintext() implements Envelope {
        }

        /** Encrypted under the owner's key {@code keyId}. */
        record Encrypted(int keyId) implements Envelope {
        }

        static Envelope of(DataKeyring keyring, byte[] first) {
            if (first.length < ENVELOPE_SIZE || !keyring.startsWithMarker(first)) {
                return new Plaintext();
            }
            return new Encrypted(ByteBuffer.wrap(first, DataKeyring.MARKER_SIZE, Integer.BYTES).getInt());
        }
    }

    private static byte[] envelopeOf(DataKeyring keyring) {
        return ByteBuffer.allocate(ENVELOPE_SIZE).put(keyring.marker()).putInt(keyring.primaryId()).array();
    }

    /** The first {@code n} bytes of the stored blob (fewer if it is shorter). */
    private byte[] storedPrefix(BlobKey key, int n) throws IOException {
        try (InputStream in = delegate.open(key, new ByteRange(0, n))) {
            return in.readNBytes(n);
        }
    }

    private StreamingAead aeadFor(BlobKey key, DataKeyring keyring, Envelope.Encrypted envelope) throws IOException {
        return holding(key, keyring, envelope).key(envelope.keyId()).orElseThrow();
    }

    /**
     * {@code keyring}, or when it lacks the blob's key (made since it was loaded, by a rotation
     * elsewhere) the owner's keys loaded again, once.
     */
    private DataKeyring holding(BlobKey key, DataKeyring keyring, Envelope.Encrypted envelope) throws IOException {
        if (keyring.key(envelope.keyId()).isPresent()) {
            return keyring;
        }
        return keys.reloaded(key).filter(reloaded -> reloaded.key(envelope.keyId()).isPresent())
                .orElseThrow(() -> unknownKey(key, envelope));
    }

    private static IntegrityViolationException unknownKey(BlobKey key, Envelope.Encrypted envelope) {
        return new IntegrityViolationException(key, new GeneralSecurityException("encrypted with key "
                + Integer.toUnsignedString(envelope.keyId()) + ", which the owner's keyset does not hold"));
    }

    private static IntegrityViolationException unmarked(BlobKey key) {
        return new IntegrityViolationException(key, new GeneralSecurityException(
                "the blob does not carry its owner's encryption envelope"));
    }

    /** The size a reader sees of the stored blob {@code stored}. */
    private BlobInfo plain(DataKeyring keyring, BlobInfo stored) throws IOException {
        if (keyring.acceptsPlaintext()
                && Envelope.of(keyring, storedPrefix(stored.key(), ENVELOPE_SIZE)) instanceof Envelope.Plaintext) {
            return stored;
        }
        return new BlobInfo(stored.key(), plaintextLength(stored.size()), stored.lastModified());
    }

    // ---------------------------------------------------------------- writing

    @Override
    public BlobInfo put(BlobKey key, InputStream data, long length, WriteMode mode) throws IOException {
        if (length < -1) {
            throw new IllegalArgumentException("length must be >= -1, was " + length);
        }
        Optional<DataKeyring> keyring = Objects.requireNonNull(keys.forWriting(key), "DataKeys gave null");
        if (keyring.isEmpty()) {
            return delegate.put(key, data, length, mode);
        }
        EncryptingInputStream ciphertext = new EncryptingInputStream(key, keyring.get(), data, length);
        BlobInfo stored = delegate.put(key, ciphertext, length < 0 ? -1 : ciphertextLength(length), mode);
        return new BlobInfo(stored.key(), ciphertext.plaintextRead, stored.lastModified());
    }

    /**
     * Whether the blob under {@code key} is not yet encrypted under its owner's primary key: it is
     * plaintext, or encrypted under an older key. False for a missing blob or an owner without keys.
     */
    public boolean needsReencryption(BlobKey key) throws IOException {
        // The keys a rewrite would use: a blob under a primary key made elsewhere is not taken for an old one, nor the reverse.
        Optional<DataKeyring> keyring = Objects.requireNonNull(keys.forWriting(key), "DataKeys gave null");
        if (keyring.isEmpty()) {
            return false;
        }
        byte[] first;
        try {
            first = storedPrefix(key, ENVELOPE_SIZE);
        } catch (BlobNotFoundException gone) {
            return false;
        }
        return !(Envelope.of(keyring.get(), first) instanceof Envelope.Encrypted encrypted)
                || !keyring.get().isPrimary(encrypted.keyId());
    }

    /**
     * Rewrites the blob under {@code key} encrypted under its owner's primary key, atomically, if
     * {@link #needsReencryption} says so. The caller keeps other writers of the key away meanwhile
     * (a write that lands during the rewrite would be replaced by the older content).
     *
     * @return the plaintext bytes rewritten, or -1 if there was nothing to do
     */
    public long reencrypt(BlobKey key) throws IOException {
        if (!needsReencryption(key)) {
            return -1;
        }
        Optional<BlobInfo> current = stat(key);
        if (current.isEmpty()) {
            return -1;
        }
        try (InputStream plaintext = open(key, ByteRange.ALL)) {
            return put(key, plaintext, current.get().size(), WriteMode.OVERWRITE).size();
        } catch (BlobNotFoundException gone) {
            return -1;
        }
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

        EncryptingInputStream(BlobKey key, DataKeyring keyring, InputStream plaintext, long declared) throws IOException {
            this.key = key;
            this.plaintext = plaintext;
            this.declared = declared;
            try {
                buffer.write(envelopeOf(keyring));
                this.encrypter = keyring.primary().newEncryptingStream(buffer, associatedData(key));
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
        Optional<DataKeyring> keyring = keyring(key);
        if (keyring.isEmpty()) {
            return delegate.open(key, range);
        }
        try {
            if (range.length() >= READ_AHEAD_FROM && delegate instanceof FileChannelReads files) {
                Optional<BufferStream> local = openLocal(key, range, keyring.get(), files, READ_AHEAD_FROM);
                if (local.isPresent()) {
                    return new ReportingInputStream(key, new BufferStreamInputStream(local.get()));
                }
            }
            return new ReportingInputStream(key, openDecrypting(key, range, keyring.get()));
        } catch (IntegrityViolationException e) {
            integrityFailures.accept(key);
            throw e;
        }
    }

    /**
     * Decrypted buffers of a local blob ({@link DecryptingBufferStream}); empty for an owner
     * without keys, a delegate without local files, or a plaintext blob its owner still accepts.
     */
    @Override
    public Optional<BufferStream> openBuffers(BlobKey key, ByteRange range) throws IOException {
        Optional<DataKeyring> keyring = keyring(key);
        if (keyring.isEmpty() || !(delegate instanceof FileChannelReads files)) {
            return Optional.empty();
        }
        try {
            return openLocal(key, range, keyring.get(), files, 0).map(stream -> new ReportingBufferStream(key, stream));
        } catch (IntegrityViolationException e) {
            integrityFailures.accept(key);
            throw e;
        }
    }

    /**
     * {@code range} of the local encrypted blob under {@code key}, decrypted ahead into direct
     * buffers; the file channel is the blob as it was when opened, so no replace can mix versions.
     * Empty when the delegate has no file for it, it is plaintext its owner still accepts, or the
     * range holds fewer than {@code minLength} bytes of it (a short read is cheaper through Tink
     * than a decrypting thread and its buffers).
     */
    private Optional<BufferStream> openLocal(BlobKey key, ByteRange range, DataKeyring keyring, FileChannelReads files,
            long minLength) throws IOException {
        Optional<FileChannel> opened = files.openChannel(key);
        if (opened.isEmpty()) {
            return Optional.empty();
        }
        FileChannel channel = opened.get();
        try {
            ByteBuffer first = ByteBuffer.allocate(ENVELOPE_SIZE + HEADER_SIZE);
            while (first.hasRemaining() && channel.read(first, first.position()) >= 0) {
                // a short read: keep reading until full or at the end
            }
            byte[] prefix = java.util.Arrays.copyOf(first.array(), first.position());
            if (!(Envelope.of(keyring, prefix) instanceof Envelope.Encrypted encrypted)) {
                channel.close();
                if (keyring.acceptsPlaintext()) {
                    return Optional.empty();
                }
                throw unmarked(key);
            }
            long plaintextSize = DecryptingBufferStream.plaintextSize(channel.size() - ENVELOPE_SIZE);
            if (minLength > 0 && range.lengthWithin(plaintextSize) < minLength) {
                channel.close();
                return Optional.empty();
            }
            SegmentKey segmentKey = holding(key, keyring, encrypted).segmentKey(encrypted.keyId())
                    .orElseThrow(() -> unknownKey(key, encrypted));
            if (prefix.length < first.capacity()) {
                throw new IntegrityViolationException(key, new GeneralSecurityException("the ciphertext is too short"));
            }
            SegmentKey.Segments segments = segmentKey.forCiphertext(
                    java.util.Arrays.copyOfRange(prefix, ENVELOPE_SIZE, prefix.length), associatedData(key));
            return Optional.of(DecryptingBufferStream.open(key, channel, segments, range, buffers, decryptor));
        } catch (GeneralSecurityException e) {
            channel.close();
            throw new IntegrityViolationException(key, e);
        } catch (IOException | RuntimeException e) {
            try {
                channel.close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /** Tells {@link #integrityFailures} of a failed authentication while the caller takes buffers. */
    private final class ReportingBufferStream implements BufferStream {
        private final BlobKey key;
        private final BufferStream in;

        ReportingBufferStream(BlobKey key, BufferStream in) {
            this.key = key;
            this.in = in;
        }

        @Override
        public ByteBuffer next() throws IOException {
            try {
                return in.next();
            } catch (IntegrityViolationException e) {
                integrityFailures.accept(key);
                throw e;
            }
        }

        @Override
        public void close() throws IOException {
            in.close();
        }
    }

    /** Tells {@link #integrityFailures} of a failed authentication while the caller reads. */
    private final class ReportingInputStream extends FilterInputStream {
        private final BlobKey key;

        ReportingInputStream(BlobKey key, InputStream in) {
            super(in);
            this.key = key;
        }

        @Override
        public int read() throws IOException {
            try {
                return super.read();
            } catch (IntegrityViolationException e) {
                integrityFailures.accept(key);
                throw e;
            }
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            try {
                return in.read(b, off, len);
            } catch (IntegrityViolationException e) {
                integrityFailures.accept(key);
                throw e;
            }
        }
    }

    private InputStream openDecrypting(BlobKey key, ByteRange range, DataKeyring keyring) throws IOException {
        if (range.isAll()) {
            return authenticatedFirst(openWhole(key, keyring));
        }
        BlobInfo stored = delegate.stat(key).orElseThrow(() -> new BlobNotFoundException(key));
        try {
            return openRange(key, range, keyring, stored);
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
            return openRange(key, range, keyring, now.get());
        }
    }

    private InputStream openWhole(BlobKey key, DataKeyring keyring) throws IOException {
        RecordingInputStream stored = new RecordingInputStream(delegate.open(key, ByteRange.ALL));
        try {
            byte[] first = stored.readNBytes(ENVELOPE_SIZE);
            Envelope envelope = Envelope.of(keyring, first);
            if (envelope instanceof Envelope.Encrypted encrypted) {
                InputStream plaintext = aeadFor(key, keyring, encrypted).newDecryptingStream(stored, associatedData(key));
                return new TranslatingInputStream(key, plaintext, stored, Long.MAX_VALUE);
            }
            if (keyring.acceptsPlaintext()) {
                return new SequenceInputStream(new ByteArrayInputStream(first), stored);
            }
            throw unmarked(key);
        } catch (GeneralSecurityException | IOException e) {
            stored.close();
            throw translate(key, e, stored.failure);
        }
    }

    /**
     * Range {@code range} of the blob that {@code stored} describes. The first segment the range
     * needs is decrypted (so authenticated) before this returns.
     */
    private InputStream openRange(BlobKey key, ByteRange range, DataKeyring keyring, BlobInfo stored) throws IOException {
        byte[] first = storedPrefix(key, ENVELOPE_SIZE + HEADER_SIZE);
        Envelope envelope = Envelope.of(keyring, first);
        if (!(envelope instanceof Envelope.Encrypted encrypted)) {
            if (keyring.acceptsPlaintext()) {
                return delegate.open(key, range);
            }
            throw unmarked(key);
        }
        StreamingAead aead = aeadFor(key, keyring, encrypted);
        long ciphertextSize = stored.size() - ENVELOPE_SIZE;
        long plaintextSize = plaintextLength(stored.size());
        long wanted = range.lengthWithin(plaintextSize);
        if (wanted == 0) {
            return InputStream.nullInputStream();
        }
        long firstSegment = segmentOf(range.offset());
        long lastSegment = segmentOf(range.offset() + wanted - 1);
        long needStart = firstSegment * CIPHERTEXT_SEGMENT_SIZE;
        long needEnd = Math.min((lastSegment + 1) * CIPHERTEXT_SEGMENT_SIZE, ciphertextSize);
        byte[] header = java.util.Arrays.copyOfRange(first, ENVELOPE_SIZE, first.length);
        CiphertextChannel ciphertext = new CiphertextChannel(key, ciphertextSize, header, needStart, needEnd);
        InputStream result;
        try {
            SeekableByteChannel plaintext = aead.newSeekableDecryptingChannel(ciphertext, associatedData(key));
            plaintext.position(range.offset());
            result = new TranslatingInputStream(key, Channels.newInputStream(plaintext), ciphertext, wanted);
        } catch (GeneralSecurityException | IOException e) {
            ciphertext.close();
            throw translate(key, e, ciphertext.failure);
        }
        return authenticatedFirst(result);
    }

    /**
     * {@code plaintext} with its first segment already decrypted, so that a damaged blob fails
     * here, before a caller has announced a response, rather than at its first read.
     */
    private static InputStream authenticatedFirst(InputStream plaintext) throws IOException {
        BufferedInputStream prefetched = new BufferedInputStream(plaintext, CHUNK);
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
     * Tink's ciphertext (the stored blob after its envelope) as a read-only seekable channel of
     * the size it had when the read was opened. The ranges a range read needs (the header and the
     * segments it touches) are read or opened at once, so the reader keeps seeing the blob as it was when opened; any other
     * position is read with a fresh ranged read of the delegate.
     */
    private final class CiphertextChannel implements SeekableByteChannel, BackendReader {
        private final BlobKey key;
        private final long size;
        private final byte[] header;
        private InputStream stream;
        private long streamPos;
        private long streamEnd;
        private long position;
        private boolean open = true;
        IOException failure;

        CiphertextChannel(BlobKey key, long size, byte[] header, long needStart, long needEnd) throws IOException {
            this.key = key;
            this.size = size;
            this.header = header;
            try {
                stream = delegate.open(key, new ByteRange(ENVELOPE_SIZE + needStart, needEnd - needStart));
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
                int want = (int) Math.min(dst.remaining(), streamEnd - position);
                int n;
                if (dst.hasArray()) {
                    n = stream.read(dst.array(), dst.arrayOffset() + dst.position(), want);
                    if (n > 0) {
                        dst.position(dst.position() + n);
                    }
                } else {
                    byte[] bytes = new byte[Math.min(want, CHUNK)];
                    n = stream.read(bytes, 0, bytes.length);
                    if (n > 0) {
                        dst.put(bytes, 0, n);
                    }
                }
                if (n < 0) {
                    return -1;
                }
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
            stream = delegate.open(key, new ByteRange(ENVELOPE_SIZE + from, size - from));
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
        Optional<BlobInfo> stored = delegate.stat(key);
        Optional<DataKeyring> keyring = keyring(key);
        if (stored.isEmpty() || keyring.isEmpty()) {
            return stored;
        }
        try {
            return Optional.of(plain(keyring.get(), stored.get()));
        } catch (BlobNotFoundException gone) {
            return Optional.empty();
        }
    }

    @Override
    public boolean delete(BlobKey key) throws IOException {
        return delegate.delete(key);
    }

    @Override
    public int deleteAll(java.util.List<BlobKey> keys) throws IOException {
        return delegate.deleteAll(keys);
    }

    @Override
    public Iterator<BlobInfo> list(String prefix, BlobKey startAfter) throws IOException {
        Iterator<BlobInfo> stored = delegate.list(prefix, startAfter);
        return new LazyIterator<>() {
            @Override
            protected BlobInfo computeNext() throws IOException {
                while (stored.hasNext()) {
                    BlobInfo next = stored.next();
                    Optional<DataKeyring> keyring = keyring(next.key());
                    if (keyring.isEmpty()) {
                        return next;
                    }
                    try {
                        return plain(keyring.get(), next);
                    } catch (BlobNotFoundException gone) {
                        // deleted since it was listed
                    }
                }
                return null;
            }
        };
    }

    /** The delegate's file channel, for blobs that are stored as they are read (owner without keys). */
    @Override
    public Optional<FileChannel> openChannel(BlobKey key) throws IOException {
        if (keyring(key).isPresent() || !(delegate instanceof FileChannelReads files)) {
            return Optional.empty();
        }
        return files.openChannel(key);
    }

    /** Renames the file into the delegate when its owner has no keys; otherwise the caller copies it through {@link #put}. */
    @Override
    public BlobInfo adopt(BlobKey key, Path file) throws IOException {
        if (keyring(key).isPresent() || !(delegate instanceof FileAdoption adoption)) {
            throw new AtomicMoveNotSupportedException(file.toString(), null,
                    "the blob store transforms the bytes of " + key + "; copy them instead");
        }
        return adoption.adopt(key, file);
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
