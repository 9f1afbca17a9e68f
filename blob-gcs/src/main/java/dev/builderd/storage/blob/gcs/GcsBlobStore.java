package dev.builderd.storage.blob.gcs;

import com.google.api.gax.paging.Page;
import com.google.api.gax.retrying.RetrySettings;
import com.google.auth.oauth2.ServiceAccountCredentials;
import com.google.cloud.NoCredentials;
import com.google.cloud.ReadChannel;
import com.google.cloud.WriteChannel;
import com.google.cloud.http.HttpTransportOptions;
import com.google.cloud.storage.Blob;
import com.google.cloud.storage.BlobId;
import com.google.cloud.storage.Storage;
import com.google.cloud.storage.Storage.BlobField;
import com.google.cloud.storage.Storage.BlobListOption;
import com.google.cloud.storage.Storage.BlobWriteOption;
import com.google.cloud.storage.StorageException;
import com.google.cloud.storage.StorageOptions;
import dev.builderd.storage.blob.BlobAlreadyExistsException;
import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobNotFoundException;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.LazyIterator;
import dev.builderd.storage.blob.ParallelIo;
import dev.builderd.storage.blob.ParallelRangeInputStream;
import dev.builderd.storage.blob.RemoteTimeouts;
import dev.builderd.storage.blob.UploadLengthMismatchException;
import dev.builderd.storage.blob.WriteMode;
import java.io.IOException;
import java.io.InputStream;
import java.io.PushbackInputStream;
import java.io.SequenceInputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * A {@link BlobStore} on one Google Cloud Storage bucket (google-cloud-storage, JSON API over
 * HTTP). The key {@code a/b} is the object {@code keyPrefix + "a/b"}.
 *
 * <p><b>Puts</b> are resumable uploads ({@link Storage#writer}) in chunks of
 * {@link ParallelIo#partSize()}, streamed through a {@link ParallelIo#bufferSize()} buffer, so a
 * put holds at most one chunk plus one buffer in memory whatever the blob's size. They are atomic
 * because GCS makes an object visible only when its upload is finalized, which happens when the
 * writer is closed, and this store closes it only after the whole stream was read and its length
 * checked. On any failure (the stream throws, is shorter or longer than declared, GCS refuses a
 * chunk) the writer is abandoned without being closed: the resumable session is never finalized,
 * no object appears, the chunks already sent are invisible and not billed as an object, and GCS
 * discards the unfinished session by itself after a week. {@link WriteMode#CREATE_NEW} sends the
 * precondition {@code ifGenerationMatch=0}, which GCS checks when it finalizes; its 412 becomes
 * {@link BlobAlreadyExistsException}, so of concurrent creators exactly one wins.
 *
 * <p><b>Reads</b> first look the object up (so a missing key fails with
 * {@link BlobNotFoundException} before any download, and a range past the end reads nothing without
 * a request), then read that <em>generation</em> with {@link Storage#reader} seeked and limited to
 * the range. Pinning the generation means a read that the SDK resumes after a network error
 * never mixes two versions of a blob: if the blob was replaced meanwhile, the read fails instead.
 * A range longer than {@code 2 × partSize} (with more than one worker) streams its first part that
 * way and fetches the rest as ranged reads of {@code partSize} bytes of the same generation, with
 * the precondition {@code ifGenerationMatch}, at most {@code workers} of them ahead of the reader
 * (see {@link ParallelRangeInputStream}), delivered in order; if the blob is replaced or deleted
 * meanwhile, the read fails with an {@link IOException} saying so rather than mixing versions.
 * Closing the stream cancels the parts not yet taken (a part whose request is already running
 * finishes or times out in the background).
 *
 * <p><b>Lists</b> page lazily through the bucket in GCS's order (lexicographic by UTF-8 bytes, the
 * order of {@link BlobKey#compareKeys}), using {@code startOffset} for {@code startAfter}; objects
 * whose names are not valid keys (made by other tools) are skipped.
 *
 * <p>Retries with exponential backoff and jitter, and timeouts, are the SDK's, configured by
 * {@link #retrySettings(RemoteTimeouts)}. {@link #close()} closes the client if this store built it.
 */
public final class GcsBlobStore implements BlobStore, AutoCloseable {

    /** GCS accepts resumable chunks in multiples of 256 KiB. */
    static final int CHUNK_GRANULARITY = 256 * 1024;
    private static final int LIST_PAGE_SIZE = 1000;
    private static final String READ_WRITE_SCOPE = "https://www.googleapis.com/auth/devstorage.read_write";

    private final Storage storage;
    private final String bucket;
    private final String keyPrefix;
    private final ParallelIo parallelIo;
    private final boolean ownsClient;
    private final ExecutorService transfers = Executors.newVirtualThreadPerTaskExecutor();

    private GcsBlobStore(Storage storage, String bucket, String keyPrefix, ParallelIo parallelIo, boolean ownsClient) {
        this.storage = Objects.requireNonNull(storage, "storage");
        this.bucket = Objects.requireNonNull(bucket, "bucket");
        this.keyPrefix = Objects.requireNonNull(keyPrefix, "keyPrefix");
        this.parallelIo = Objects.requireNonNull(parallelIo, "parallelIo");
        this.ownsClient = ownsClient;
    }

    /**
     * A store on a client the caller built and keeps owning ({@link #close()} does not close it):
     * for tests (an in-process fake) or a client configured in ways {@link GcsSettings} does not
     * cover. Only the bucket, key prefix and {@link GcsSettings#parallelIo()} of
     * {@code settings} are used.
     */
    public static GcsBlobStore using(Storage storage, GcsSettings settings) {
        return new GcsBlobStore(storage, settings.bucket(), settings.keyPrefix().orElse(""), settings.parallelIo(), false);
    }

    /**
     * A store with its own client built from {@code settings}: credentials from the service-account
     * file when given, otherwise Application Default Credentials (or none when an endpoint override
     * is given without a file: emulators take no credentials). {@link #close()} closes the client.
     * Does not contact GCS.
     *
     * @throws IOException if the credentials file cannot be read or is not a service-account key
     *     (the message names the file, never its content)
     */
    public static GcsBlobStore create(GcsSettings settings) throws IOException {
        return new GcsBlobStore(buildClient(settings), settings.bucket(), settings.keyPrefix().orElse(""),
                settings.parallelIo(), true);
    }

    static Storage buildClient(GcsSettings settings) throws IOException {
        RemoteTimeouts timeouts = settings.timeouts();
        StorageOptions.Builder options = StorageOptions.http()
                .setRetrySettings(retrySettings(timeouts))
                .setTransportOptions(HttpTransportOptions.newBuilder()
                        .setConnectTimeout(Math.toIntExact(timeouts.connect().toMillis()))
                        .setReadTimeout(Math.toIntExact(timeouts.request().toMillis()))
                        .build());
        settings.project().ifPresent(options::setProjectId);
        settings.endpoint().ifPresent(uri -> options.setHost(uri.toString()));
        if (settings.credentialsFile().isPresent()) {
            var file = settings.credentialsFile().get();
            try (InputStream in = Files.newInputStream(file)) {
                options.setCredentials(ServiceAccountCredentials.fromStream(in).createScoped(READ_WRITE_SCOPE));
            } catch (IOException | RuntimeException e) {
                // The parser's message could quote the file; name the file and the kind of problem only.
                throw new IOException("cannot load GCS service-account credentials from " + file + ": "
                        + e.getClass().getSimpleName(), null);
            }
        } else if (settings.endpoint().isPresent()) {
            options.setCredentials(NoCredentials.getInstance());
        }
        return options.build().getService();
    }

    /**
     * The SDK's retry policy from {@code timeouts}: at most {@code maxAttempts} attempts of an
     * idempotent request, the first retry after 250 ms, each later delay doubled up to 8 s, every
     * delay randomized (jitter, always on in the SDK); each attempt may take up to
     * {@code request}, and all attempts together at most {@code maxAttempts × request} plus the
     * delays.
     */
    static RetrySettings retrySettings(RemoteTimeouts timeouts) {
        Duration initialDelay = Duration.ofMillis(250);
        Duration maxDelay = Duration.ofSeconds(8);
        Duration delays = Duration.ZERO;
        Duration delay = initialDelay;
        for (int attempt = 1; attempt < timeouts.maxAttempts(); attempt++) {
            delays = delays.plus(delay);
            delay = delay.multipliedBy(2).compareTo(maxDelay) > 0 ? maxDelay : delay.multipliedBy(2);
        }
        return RetrySettings.newBuilder()
                .setMaxAttempts(timeouts.maxAttempts())
                .setInitialRetryDelayDuration(initialDelay)
                .setRetryDelayMultiplier(2.0)
                .setMaxRetryDelayDuration(maxDelay)
                .setInitialRpcTimeoutDuration(timeouts.request())
                .setRpcTimeoutMultiplier(1.0)
                .setMaxRpcTimeoutDuration(timeouts.request())
                .setTotalTimeoutDuration(timeouts.request().multipliedBy(timeouts.maxAttempts()).plus(delays))
                .build();
    }

    // ---------------------------------------------------------------- put

    @Override
    public BlobInfo put(BlobKey key, InputStream data, long length, WriteMode mode) throws IOException {
        Objects.requireNonNull(data, "data");
        int chunkSize = chunkSize(parallelIo);
        // The first chunk is read before the upload session is opened: a stream that fails (or has
        // the wrong length) within its first chunk leaves no session behind at all.
        Chunk first = readChunk(key, data, length, chunkSize);
        WriteChannel writer = openWriter(key, mode, chunkSize);
        long written = 0;
        boolean finalizing = false;
        try {
            boolean whole = first.endOfStream();
            written = writeFully(writer, first.bytes(), first.length());
            first = null; // the writer holds its own copy; let this one go
            if (!whole) {
                written = streamRest(key, data, length, writer, written);
            }
            // Finalizes the resumable upload: only now does the object appear, whole.
            finalizing = true;
            writer.close();
        } catch (StorageException e) {
            throw translate(e, key, finalizing ? "finish the upload of" : "upload");
        } catch (IOException e) {
            StorageException cause = storageCause(e);
            if (cause != null) {
                throw translate(cause, key, finalizing ? "finish the upload of" : "upload");
            }
            throw e;
        }
        // Not closing the writer on failure is deliberate: closing would finalize the upload and
        // publish a partial object. The unfinished session expires on GCS's side after a week.
        return new BlobInfo(key, written, Instant.now());
    }

    /** Up to one chunk of the stream, in a buffer that grows only as far as the data goes. */
    private record Chunk(byte[] bytes, int length, boolean endOfStream) {
    }

    private Chunk readChunk(BlobKey key, InputStream data, long length, int chunkSize) throws IOException {
        int limit = length >= 0 ? (int) Math.min(chunkSize, length + 1) : chunkSize;
        byte[] bytes = new byte[Math.min(limit, parallelIo.bufferSize())];
        int filled = 0;
        while (filled < limit) {
            if (filled == bytes.length) {
                bytes = Arrays.copyOf(bytes, (int) Math.min(limit, 2L * bytes.length));
            }
            int n = data.read(bytes, filled, bytes.length - filled);
            if (n < 0) {
                if (length >= 0 && filled != length) {
                    throw new UploadLengthMismatchException(key, length, filled);
                }
                return new Chunk(bytes, filled, true);
            }
            filled += n;
        }
        if (length >= 0 && filled > length) {
            throw new UploadLengthMismatchException(key, length, length + 1);
        }
        return new Chunk(bytes, filled, false);
    }

    private WriteChannel openWriter(BlobKey key, WriteMode mode, int chunkSize) throws IOException {
        com.google.cloud.storage.BlobInfo target = com.google.cloud.storage.BlobInfo.newBuilder(blobId(key))
                .setContentType("application/octet-stream")
                .build();
        BlobWriteOption[] options = mode == WriteMode.CREATE_NEW
                ? new BlobWriteOption[] {BlobWriteOption.doesNotExist()}
                : new BlobWriteOption[0];
        try {
            WriteChannel writer = storage.writer(target, options);
            writer.setChunkSize(chunkSize);
            return writer;
        } catch (StorageException e) {
            throw translate(e, key, "start the upload of");
        }
    }

    private static long writeFully(WriteChannel writer, byte[] bytes, int length) throws IOException {
        ByteBuffer buffer = ByteBuffer.wrap(bytes, 0, length);
        while (buffer.hasRemaining()) {
            writer.write(buffer);
        }
        return length;
    }

    /** Copies the rest of the stream through one buffer; checks the declared length. */
    private long streamRest(BlobKey key, InputStream data, long length, WriteChannel writer, long written) throws IOException {
        byte[] buffer = new byte[parallelIo.bufferSize()];
        while (true) {
            int want = buffer.length;
            if (length >= 0) {
                // Read one byte past the declared length to notice a longer stream.
                want = (int) Math.min(buffer.length, length + 1 - written);
            }
            int n = data.read(buffer, 0, want);
            if (n < 0) {
                break;
            }
            if (length >= 0 && written + n > length) {
                throw new UploadLengthMismatchException(key, length, length + 1);
            }
            written += writeFully(writer, buffer, n);
        }
        if (length >= 0 && written != length) {
            throw new UploadLengthMismatchException(key, length, written);
        }
        return written;
    }

    /** The resumable chunk size: the part size, rounded down to GCS's 256 KiB granularity. */
    static int chunkSize(ParallelIo parallelIo) {
        return Math.max(CHUNK_GRANULARITY, parallelIo.partSize() / CHUNK_GRANULARITY * CHUNK_GRANULARITY);
    }

    // ---------------------------------------------------------------- open, stat, delete

    @Override
    public InputStream open(BlobKey key, ByteRange range) throws IOException {
        Blob blob = get(key);
        if (blob == null) {
            throw new BlobNotFoundException(key);
        }
        long size = sizeOf(blob);
        long length = range.lengthWithin(size);
        if (length == 0) {
            return InputStream.nullInputStream();
        }
        long end = range.offset() + length;
        int partSize = parallelIo.partSize();
        int workers = parallelIo.workers();
        Long generation = blob.getGeneration();
        boolean parallel = workers > 1 && length > 2L * partSize && generation != null;
        long firstEnd = parallel ? range.offset() + partSize : end;
        InputStream first = openReader(key, blob, range.offset(), firstEnd, size);
        if (!parallel) {
            return first;
        }
        InputStream rest = new ParallelRangeInputStream(
                (offset, partLength) -> fetchPart(key, blob.getName(), generation, offset, partLength),
                transfers, firstEnd, end, partSize, workers);
        return new SequenceInputStream(first, rest);
    }

    /** A stream of bytes {@code [from, to)} of the generation of {@code blob}, its request already sent. */
    private InputStream openReader(BlobKey key, Blob blob, long from, long to, long size) throws IOException {
        ReadChannel reader;
        try {
            reader = storage.reader(BlobId.of(bucket, blob.getName(), blob.getGeneration()));
        } catch (StorageException e) {
            throw translate(e, key, "open");
        }
        try {
            if (from > 0) {
                reader.seek(from);
            }
            if (to < size) {
                reader.limit(to);
            }
        } catch (StorageException e) {
            reader.close();
            throw translate(e, key, "open");
        }
        // The SDK sends the request on the first read. Start it now, so that the stream reads the
        // blob as it is at open() even if it is replaced or deleted before the caller reads.
        PushbackInputStream in = new PushbackInputStream(new TranslatingInputStream(Channels.newInputStream(reader), key), 1);
        try {
            int first = in.read();
            if (first >= 0) {
                in.unread(first);
            }
        } catch (IOException | RuntimeException e) {
            in.close();
            throw e;
        }
        return in;
    }

    /**
     * Bytes {@code [offset, offset + length)} of generation {@code generation} of the object, with
     * the precondition {@code ifGenerationMatch}: if the object was replaced or deleted since the
     * read began, GCS answers 412 (or 404) and the read fails instead of mixing versions.
     */
    private byte[] fetchPart(BlobKey key, String name, long generation, long offset, int length) throws IOException {
        byte[] bytes = new byte[length];
        ByteBuffer buffer = ByteBuffer.wrap(bytes);
        try (ReadChannel reader = storage.reader(BlobId.of(bucket, name, generation),
                Storage.BlobSourceOption.generationMatch(generation))) {
            reader.setChunkSize(length);
            reader.seek(offset);
            reader.limit(offset + length);
            while (buffer.hasRemaining()) {
                if (reader.read(buffer) < 0) {
                    break;
                }
            }
        } catch (IOException | RuntimeException e) {
            StorageException storageException = storageCause(e);
            if (storageException == null) {
                throw e;
            }
            if (storageException.getCode() == 412 || storageException.getCode() == 404) {
                throw new IOException("blob " + key + " in gs://" + bucket + " was replaced or deleted while it was being read"
                        + " (at byte " + offset + "); read it again", storageException);
            }
            throw translate(storageException, key, "read");
        }
        if (buffer.hasRemaining()) {
            throw new IOException("reading gs://" + bucket + "/" + name + ": asked for " + length + " bytes at " + offset
                    + ", got " + buffer.position());
        }
        return bytes;
    }

    @Override
    public Optional<BlobInfo> stat(BlobKey key) throws IOException {
        Blob blob = get(key);
        return blob == null ? Optional.empty() : Optional.of(info(key, blob));
    }

    @Override
    public boolean delete(BlobKey key) throws IOException {
        try {
            return storage.delete(blobId(key));
        } catch (StorageException e) {
            throw translate(e, key, "delete");
        }
    }

    private Blob get(BlobKey key) throws IOException {
        try {
            Blob blob = storage.get(blobId(key));
            return blob;
        } catch (StorageException e) {
            if (e.getCode() == 404) {
                return null;
            }
            throw translate(e, key, "look up");
        }
    }

    // ---------------------------------------------------------------- list

    @Override
    public Iterator<BlobInfo> list(String prefix, BlobKey startAfter) throws IOException {
        Objects.requireNonNull(prefix, "prefix");
        List<BlobListOption> options = new ArrayList<>();
        options.add(BlobListOption.pageSize(LIST_PAGE_SIZE));
        options.add(BlobListOption.fields(BlobField.NAME, BlobField.SIZE, BlobField.UPDATED, BlobField.GENERATION));
        if (!keyPrefix.isEmpty() || !prefix.isEmpty()) {
            options.add(BlobListOption.prefix(keyPrefix + prefix));
        }
        if (startAfter != null && BlobKey.compareKeys(startAfter.value(), prefix) >= 0) {
            // startOffset is inclusive; the key itself is skipped below.
            options.add(BlobListOption.startOffset(keyPrefix + startAfter.value()));
        }
        Page<Blob> first;
        try {
            first = storage.list(bucket, options.toArray(BlobListOption[]::new));
        } catch (StorageException e) {
            throw new IOException("cannot list gs://" + bucket + "/" + keyPrefix + prefix + ": " + e.getMessage(), e);
        }
        return new Listing(first, prefix, startAfter);
    }

    /** Walks the pages one at a time, fetching the next page only when the current one is used up. */
    private final class Listing extends LazyIterator<BlobInfo> {
        private Page<Blob> page;
        private Iterator<Blob> blobs;
        private final String prefix;
        private final BlobKey startAfter;

        Listing(Page<Blob> first, String prefix, BlobKey startAfter) {
            this.page = first;
            this.blobs = first.getValues().iterator();
            this.prefix = prefix;
            this.startAfter = startAfter;
        }

        @Override
        protected BlobInfo computeNext() throws IOException {
            while (true) {
                if (!blobs.hasNext()) {
                    if (page == null || !page.hasNextPage()) {
                        page = null;
                        return null;
                    }
                    try {
                        page = page.getNextPage();
                    } catch (StorageException e) {
                        throw new IOException("cannot list gs://" + bucket + "/" + keyPrefix + prefix + ": " + e.getMessage(), e);
                    }
                    blobs = page == null ? List.<Blob>of().iterator() : page.getValues().iterator();
                    continue;
                }
                BlobInfo info = toInfo(blobs.next());
                if (info != null) {
                    return info;
                }
            }
        }

        private BlobInfo toInfo(Blob blob) {
            String name = blob.getName();
            if (name == null || !name.startsWith(keyPrefix) || blob.getSize() == null) {
                return null;
            }
            String keyName = name.substring(keyPrefix.length());
            if (!keyName.startsWith(prefix) || !BlobKey.isValid(keyName)) {
                return null;
            }
            if (startAfter != null && BlobKey.compareKeys(keyName, startAfter.value()) <= 0) {
                return null;
            }
            return info(BlobKey.of(keyName), blob);
        }

    }

    // ---------------------------------------------------------------- the rest

    @Override
    public String backendName() {
        return "gcs";
    }

    /** Closes the client if {@link #create} built it; a client passed to {@link #using} stays open. */
    @Override
    public void close() throws Exception {
        transfers.shutdownNow();
        if (ownsClient) {
            storage.close();
        }
    }

    @Override
    public String toString() {
        return "GcsBlobStore[gs://" + bucket + "/" + keyPrefix + "]";
    }

    private BlobId blobId(BlobKey key) {
        return BlobId.of(bucket, keyPrefix + key.value());
    }

    private static long sizeOf(Blob blob) {
        return blob.getSize() == null ? 0 : blob.getSize();
    }

    private static BlobInfo info(BlobKey key, Blob blob) {
        OffsetDateTime updated = blob.getUpdateTimeOffsetDateTime();
        return new BlobInfo(key, sizeOf(blob), updated == null ? Instant.EPOCH : updated.toInstant());
    }

    private IOException translate(StorageException e, BlobKey key, String action) {
        if (e.getCode() == 412 || e.getCause() instanceof FileAlreadyExistsException) {
            // 412: GCS's ifGenerationMatch=0 failed. The SDK's in-process fake reports the same
            // precondition as a FileAlreadyExistsException cause.
            BlobAlreadyExistsException exists = new BlobAlreadyExistsException(key);
            exists.initCause(e);
            return exists;
        }
        if (e.getCode() == 404 && action.equals("open")) {
            BlobNotFoundException missing = new BlobNotFoundException(key);
            missing.initCause(e);
            return missing;
        }
        return new IOException("cannot " + action + " gs://" + bucket + "/" + keyPrefix + key + " (HTTP "
                + e.getCode() + "): " + e.getMessage(), e);
    }

    private static StorageException storageCause(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof StorageException storageException) {
                return storageException;
            }
        }
        return null;
    }

    /** Turns the SDK's unchecked errors during a read into IOExceptions naming the key. */
    private final class TranslatingInputStream extends java.io.FilterInputStream {
        private final BlobKey key;

        TranslatingInputStream(InputStream in, BlobKey key) {
            super(in);
            this.key = key;
        }

        @Override
        public int read() throws IOException {
            try {
                return super.read();
            } catch (StorageException e) {
                throw translate(e, key, "read");
            }
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            try {
                return super.read(b, off, len);
            } catch (StorageException e) {
                throw translate(e, key, "read");
            }
        }
    }
}
