package dev.builderd.storage.blob.azure;

import com.azure.core.http.HttpPipelineCallContext;
import com.azure.core.http.HttpPipelineNextPolicy;
import com.azure.core.http.HttpPipelineNextSyncPolicy;
import com.azure.core.http.HttpPipelinePosition;
import com.azure.core.http.HttpResponse;
import com.azure.core.http.netty.NettyAsyncHttpClientBuilder;
import com.azure.core.http.policy.ExponentialBackoff;
import com.azure.core.http.policy.HttpPipelinePolicy;
import com.azure.core.http.policy.RetryPolicy;
import com.azure.core.util.BinaryData;
import com.azure.core.util.Context;
import com.azure.core.util.FluxUtil;
import com.azure.storage.blob.BlobContainerAsyncClient;
import com.azure.storage.blob.BlobContainerClient;
import com.azure.storage.blob.BlobServiceClientBuilder;
import com.azure.storage.blob.models.BlobDownloadAsyncResponse;
import com.azure.storage.blob.models.BlobErrorCode;
import com.azure.storage.blob.models.BlobItem;
import com.azure.storage.blob.models.BlobProperties;
import com.azure.storage.blob.models.BlobRange;
import com.azure.storage.blob.models.BlobRequestConditions;
import com.azure.storage.blob.models.BlobStorageException;
import com.azure.storage.blob.models.BlockBlobItem;
import com.azure.storage.blob.models.DownloadRetryOptions;
import com.azure.storage.blob.models.ListBlobsOptions;
import com.azure.storage.blob.options.BlockBlobCommitBlockListOptions;
import com.azure.storage.blob.options.BlockBlobSimpleUploadOptions;
import com.azure.storage.blob.options.BlockBlobStageBlockOptions;
import com.azure.storage.blob.specialized.BlockBlobClient;
import com.azure.storage.common.StorageSharedKeyCredential;
import com.azure.storage.common.policy.RequestRetryOptions;
import com.azure.storage.common.policy.RetryPolicyType;
import dev.builderd.storage.blob.BlobAlreadyExistsException;
import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobNotFoundException;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.LazyIterator;
import dev.builderd.storage.blob.ParallelRangeInputStream;
import dev.builderd.storage.blob.RemoteTimeouts;
import dev.builderd.storage.blob.StorageTls;
import dev.builderd.storage.blob.UploadLengthMismatchException;
import dev.builderd.storage.blob.WriteMode;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.SequenceInputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicReference;
import reactor.core.publisher.Mono;
import reactor.netty.resources.ConnectionProvider;

/**
 * A {@link BlobStore} on an Azure Blob Storage container (or Azurite), as block blobs named
 * {@code keyPrefix + key}.
 *
 * <p><b>Uploads.</b> A blob of at most {@code parallelIo.partSize} bytes goes up in one Put Blob
 * request. A larger one is read from the stream in blocks of {@code partSize} bytes, each staged
 * (Put Block) as soon as it is read, with at most {@code parallelIo.workers} blocks buffered or in
 * flight at once (so an upload holds at most {@code workers × partSize} bytes of memory), and
 * becomes visible, whole, only when Put Block List commits the list of its blocks. If the stream
 * fails, has the wrong length, or a block cannot be staged, nothing is committed: readers keep
 * seeing the previous blob (or none). The blocks staged so far stay <em>uncommitted</em>; they are
 * invisible to readers and to listing, and Azure discards them by itself (when the blob is next
 * committed, or after seven days); Azure offers no call to remove them earlier.
 * {@link WriteMode#CREATE_NEW} sends {@code If-None-Match: *} with the Put Blob or Put Block List,
 * so of concurrent creators exactly one wins; the others get {@link BlobAlreadyExistsException}.
 * Two concurrent <em>multi-block</em> overwrites of one key can make the later commit fail
 * (committing a blob discards the other writer's uncommitted blocks); that writer gets an
 * {@link IOException} and the blob holds the other writer's data, whole. A {@code CREATE_NEW}
 * whose commit succeeded but whose answer was lost (a timeout) and then retried reports
 * {@link BlobAlreadyExistsException} although its own blob was stored.
 *
 * <p><b>Reads.</b> A range of at most {@code 2 × partSize} bytes (or any read with one worker) is
 * one ranged Get Blob, streamed: an open stream keeps reading the version it started on. A longer
 * range (or one to the end of the blob) streams its first part from one ranged Get Blob, which
 * also gives the blob's size and ETag, and fetches the rest as ranged Get Blobs of
 * {@code partSize} bytes with {@code If-Match} that ETag, at most {@code workers} of them ahead of
 * the reader (see {@link ParallelRangeInputStream}), delivered in order. If the blob is replaced
 * or deleted during such a read, the read fails (HTTP 412 becomes an {@link IOException} saying
 * so) rather than mixing two versions. Closing the stream cancels the outstanding requests.
 * <b>Listing</b> is flat, paged (1000 per page) and lazy; Azure lists in UTF-8
 * byte order, which is {@link BlobKey} order, while Azurite lists in UTF-16 order; the
 * listing is put into {@link BlobKey} order either way, holding back only names with characters
 * above U+FFFF while needed. {@code startAfter} is applied by skipping, since Azure has no portable
 * "start after" marker. Names that are not valid keys are skipped.
 *
 * <p><b>Faults.</b> Connecting is bounded by {@code timeouts.connect}; every request, response
 * and read by {@code timeouts.request} without progress (Netty's write, response and read
 * timeouts). Timeouts, connection failures, 408, 429 and 5xx responses are retried up to
 * {@code timeouts.maxAttempts} attempts in all, with exponential backoff and jitter (azure-core's
 * {@link ExponentialBackoff}; the Storage SDK's own retry policy is limited to one try because it
 * has no jitter). Errors name the account and container, never the access key.
 *
 * <p><b>TLS.</b> With {@link StorageTls#caFile()}, only that CA bundle is trusted; with a client
 * certificate, it is presented (key in PKCS#8 PEM).
 *
 * <p>Thread-safe. {@link #close()} releases its connections and threads.
 */
public final class AzureBlobStore implements BlobStore, AutoCloseable {

    /** Azure allows at most this many blocks in a committed block blob. */
    static final int MAX_BLOCKS = 50_000;

    /** The first read buffer of an upload of unknown length. */
    private static final int SMALL_BUFFER = 64 * 1024;

    private static final Duration FIRST_RETRY_DELAY = Duration.ofMillis(200);
    private static final Duration MAX_RETRY_DELAY = Duration.ofSeconds(10);

    private final AzureSettings settings;
    private final ConnectionProvider connections;
    private final BlobContainerClient container;
    private final BlobContainerAsyncClient asyncContainer;
    private final ExecutorService transfers = Executors.newVirtualThreadPerTaskExecutor();
    private final String where;

    /**
     * A store on the container of {@code settings}. Nothing is sent until the first call; use
     * {@link #checkContainer()} to find out at once whether the container is reachable.
     *
     * @throws IOException when a TLS file cannot be read
     */
    public AzureBlobStore(AzureSettings settings) throws IOException {
        this(settings, List.of());
    }

    /** With extra pipeline policies, for tests that watch or disturb requests. */
    AzureBlobStore(AzureSettings settings, List<HttpPipelinePolicy> extraPolicies) throws IOException {
        this.settings = settings;
        this.where = "Azure container '" + settings.container() + "' of account '" + settings.account() + "' at "
                + settings.serviceEndpoint();
        RemoteTimeouts timeouts = settings.timeouts();
        this.connections = ConnectionProvider.builder("builderd-azure-" + settings.account())
                .maxConnections(Math.max(16, settings.parallelIo().workers() * 4))
                .pendingAcquireTimeout(timeouts.request())
                .maxIdleTime(Duration.ofSeconds(30))
                .build();
        try {
            reactor.netty.http.client.HttpClient reactorClient = reactor.netty.http.client.HttpClient.create(connections);
            SslContext ssl = sslContext(settings.tls());
            if (ssl != null) {
                reactorClient = reactorClient.secure(spec -> spec.sslContext(ssl));
            }
            com.azure.core.http.HttpClient http = new NettyAsyncHttpClientBuilder(reactorClient)
                    .connectTimeout(timeouts.connect())
                    .writeTimeout(timeouts.request())
                    .responseTimeout(timeouts.request())
                    .readTimeout(timeouts.request())
                    .build();
            BlobServiceClientBuilder builder = new BlobServiceClientBuilder()
                    .endpoint(settings.serviceEndpoint().toString())
                    .credential(new StorageSharedKeyCredential(settings.account(), settings.accessKey()))
                    .httpClient(http)
                    .retryOptions(new RequestRetryOptions(RetryPolicyType.FIXED, 1, (Duration) null, null, null, null))
                    .addPolicy(new JitteredRetry(timeouts.maxAttempts()));
            extraPolicies.forEach(builder::addPolicy);
            this.container = builder.buildClient().getBlobContainerClient(settings.container());
            this.asyncContainer = builder.buildAsyncClient().getBlobContainerAsyncClient(settings.container());
        } catch (IOException | RuntimeException e) {
            connections.dispose();
            transfers.shutdownNow();
            throw e;
        }
    }

    /** The settings this store was made with. */
    public AzureSettings settings() {
        return settings;
    }

    /**
     * Checks that the container exists and the credentials are accepted (a Get Container
     * Properties request), for start-up and health probes.
     */
    public void checkContainer() throws IOException {
        try {
            container.getPropertiesWithResponse(null, null, Context.NONE);
        } catch (RuntimeException e) {
            throw failure("checking access", null, e);
        }
    }

    // ---------------------------------------------------------------- put

    @Override
    public BlobInfo put(BlobKey key, InputStream data, long length, WriteMode mode) throws IOException {
        BlockBlobClient blob = container.getBlobClient(blobName(key)).getBlockBlobClient();
        BlobRequestConditions conditions = mode == WriteMode.CREATE_NEW
                ? new BlobRequestConditions().setIfNoneMatch("*") : new BlobRequestConditions();
        Body body = new Body(key, data, length);
        int partSize = settings.parallelIo().partSize();
        // Small blobs are the common case (logs, cache entries): do not allocate a whole part for them.
        int firstSize = length >= 0 ? (int) Math.min(partSize, length + 1) : Math.min(partSize, SMALL_BUFFER);
        Chunk first = body.next(new byte[firstSize], 0);
        if (!first.last() && first.size() < partSize) {
            first = body.next(Arrays.copyOf(first.buffer(), partSize), first.size());
        }
        try {
            if (first.last()) {
                BlockBlobItem item = blob.uploadWithResponse(new BlockBlobSimpleUploadOptions(first.data())
                        .setRequestConditions(conditions), null, Context.NONE).getValue();
                return new BlobInfo(key, body.total, instant(item.getLastModified()));
            }
        } catch (RuntimeException e) {
            throw putFailure(key, mode, e);
        }
        if (mode == WriteMode.CREATE_NEW && stat(key).isPresent()) {
            // Fail before uploading gigabytes; the commit's If-None-Match is what decides a race.
            throw new BlobAlreadyExistsException(key);
        }
        return putBlocks(key, blob, body, first, conditions, mode);
    }

    private BlobInfo putBlocks(BlobKey key, BlockBlobClient blob, Body body, Chunk first,
            BlobRequestConditions conditions, WriteMode mode) throws IOException {
        int workers = settings.parallelIo().workers();
        int partSize = settings.parallelIo().partSize();
        Semaphore buffers = new Semaphore(workers - 1); // the first chunk holds one already
        AtomicReference<Throwable> stagingFailure = new AtomicReference<>();
        List<Future<?>> staged = new ArrayList<>();
        List<String> blockIds = new ArrayList<>();
        String uploadId = UUID.randomUUID().toString();
        try {
            Chunk chunk = first;
            while (true) {
                if (chunk.size() > 0) {
                    if (blockIds.size() >= MAX_BLOCKS) {
                        throw new IOException("upload of " + key + " to " + where + " needs more than " + MAX_BLOCKS
                                + " blocks of " + partSize + " bytes; raise the part size");
                    }
                    String blockId = Base64.getEncoder().encodeToString(
                            String.format("%s-%06d", uploadId, blockIds.size()).getBytes(StandardCharsets.US_ASCII));
                    blockIds.add(blockId);
                    BinaryData blockData = chunk.data();
                    staged.add(transfers.submit(() -> {
                        try {
                            blob.stageBlockWithResponse(new BlockBlobStageBlockOptions(blockId, blockData), null, Context.NONE);
                        } catch (Throwable e) {
                            stagingFailure.compareAndSet(null, e);
                        } finally {
                            buffers.release();
                        }
                    }));
                } else {
                    buffers.release();
                }
                if (chunk.last()) {
                    break;
                }
                buffers.acquire();
                throwIfFailed(key, mode, stagingFailure);
                chunk = body.next(new byte[partSize], 0);
            }
            for (Future<?> future : staged) {
                future.get();
            }
            throwIfFailed(key, mode, stagingFailure);
            BlockBlobItem item = blob.commitBlockListWithResponse(new BlockBlobCommitBlockListOptions(blockIds)
                    .setRequestConditions(conditions), null, Context.NONE).getValue();
            return new BlobInfo(key, body.total, instant(item.getLastModified()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while uploading " + key + " to " + where);
        } catch (ExecutionException e) {
            throw putFailure(key, mode, e.getCause());
        } catch (RuntimeException e) {
            throw putFailure(key, mode, e);
        } finally {
            // On success all are done; on failure, stop staging blocks nobody will commit.
            staged.forEach(f -> f.cancel(true));
        }
    }

    private void throwIfFailed(BlobKey key, WriteMode mode, AtomicReference<Throwable> failure) throws IOException {
        Throwable e = failure.get();
        if (e != null) {
            throw putFailure(key, mode, e);
        }
    }

    private IOException putFailure(BlobKey key, WriteMode mode, Throwable e) {
        if (mode == WriteMode.CREATE_NEW && e instanceof BlobStorageException s
                && (s.getStatusCode() == 409 && BlobErrorCode.BLOB_ALREADY_EXISTS.equals(s.getErrorCode())
                        || s.getStatusCode() == 412)) {
            return new BlobAlreadyExistsException(key);
        }
        if (e instanceof BlobStorageException s && BlobErrorCode.INVALID_BLOCK_LIST.equals(s.getErrorCode())) {
            return new IOException("upload of " + key + " to " + where + " was not committed: its blocks were discarded,"
                    + " most likely by a concurrent upload of the same key that committed first", e);
        }
        return failure("uploading", key, e);
    }

    /** A piece of the body read into a buffer; {@code last} when the body ended with it. */
    private record Chunk(byte[] buffer, int size, boolean last) {
        BinaryData data() {
            return BinaryData.fromByteBuffer(ByteBuffer.wrap(buffer, 0, size));
        }
    }

    /** Reads the body in chunks, checking it against its declared length. */
    private static final class Body {
        private final BlobKey key;
        private final InputStream in;
        private final long declared;
        long total;

        Body(BlobKey key, InputStream in, long declared) {
            this.key = key;
            this.in = in;
            this.declared = declared;
        }

        /**
         * Fills {@code buffer} from {@code from} on (reading at most one byte past the declared
         * length); the chunk is the buffer's first {@code from + n} bytes.
         */
        Chunk next(byte[] buffer, int from) throws IOException {
            int room = buffer.length - from;
            int want = declared < 0 ? room : (int) Math.min(room, declared + 1 - total);
            int n = in.readNBytes(buffer, from, want);
            total += n;
            if (declared >= 0 && total > declared) {
                throw new UploadLengthMismatchException(key, declared, declared + 1);
            }
            boolean ended = n < want;
            if (!ended && declared >= 0 && total == declared) {
                // Read to the end: a longer body is an error, and a vetoing stream throws here.
                int extra = in.read();
                if (extra >= 0) {
                    throw new UploadLengthMismatchException(key, declared, declared + 1);
                }
                ended = true;
            }
            if (ended && declared >= 0 && total != declared) {
                throw new UploadLengthMismatchException(key, declared, total);
            }
            return new Chunk(buffer, from + n, ended);
        }
    }

    // ---------------------------------------------------------------- read

    @Override
    public InputStream open(BlobKey key, ByteRange range) throws IOException {
        if (range.length() == 0) {
            if (stat(key).isEmpty()) {
                throw new BlobNotFoundException(key);
            }
            return InputStream.nullInputStream();
        }
        int partSize = settings.parallelIo().partSize();
        int workers = settings.parallelIo().workers();
        boolean toEnd = range.length() == ByteRange.TO_END || range.length() > Long.MAX_VALUE - range.offset();
        boolean parallel = workers > 1 && (toEnd || range.length() > 2L * partSize);
        BlobRange blobRange;
        if (parallel) {
            blobRange = new BlobRange(range.offset(), (long) partSize);
        } else if (range.isAll()) {
            blobRange = new BlobRange(0);
        } else if (toEnd) {
            blobRange = new BlobRange(range.offset());
        } else {
            blobRange = new BlobRange(range.offset(), range.length());
        }
        BlobDownloadAsyncResponse response;
        InputStream first;
        try {
            response = asyncContainer.getBlobAsyncClient(blobName(key))
                    .downloadStreamWithResponse(blobRange, downloadRetries(), null, false)
                    .block();
            if (response == null) {
                throw new IOException("reading " + key + " from " + where + " gave no response");
            }
            // Streams the single response's body (no buffering of the whole range).
            first = new ResponseStream(BinaryData.fromFlux(response.getValue(), null, false).block().toStream(), response);
        } catch (RuntimeException e) {
            BlobStorageException s = storageException(e);
            if (s != null && s.getStatusCode() == 416) {
                return InputStream.nullInputStream(); // the blob exists; the range starts at or past its end
            }
            throw failure("reading", key, e);
        }
        if (!parallel) {
            return first;
        }
        long total = ByteRange.totalSizeOf(response.getDeserializedHeaders().getContentRange());
        long end = toEnd ? total : Math.min(total, range.offset() + range.length());
        long next = range.offset() + partSize;
        String eTag = response.getDeserializedHeaders().getETag();
        if (total < 0 || next >= end || eTag == null) {
            return first;
        }
        InputStream rest = new ParallelRangeInputStream((offset, length) -> fetchPart(key, eTag, offset, length),
                transfers, next, end, partSize, workers);
        return new SequenceInputStream(first, rest);
    }

    private DownloadRetryOptions downloadRetries() {
        return new DownloadRetryOptions().setMaxRetryRequests(settings.timeouts().maxAttempts() - 1);
    }

    /**
     * Bytes {@code [offset, offset + length)} of the version {@code eTag} of the blob: a ranged
     * Get Blob with {@code If-Match}, so that a blob replaced (or deleted) since the read began
     * fails the read instead of mixing versions.
     */
    private byte[] fetchPart(BlobKey key, String eTag, long offset, int length) throws IOException {
        byte[] bytes;
        try {
            BlobDownloadAsyncResponse response = asyncContainer.getBlobAsyncClient(blobName(key))
                    .downloadStreamWithResponse(new BlobRange(offset, (long) length), downloadRetries(),
                            new BlobRequestConditions().setIfMatch(eTag), false)
                    .block();
            if (response == null) {
                throw new IOException("reading " + key + " from " + where + " gave no response");
            }
            bytes = FluxUtil.collectBytesInByteBufferStream(response.getValue(), length).block();
        } catch (RuntimeException e) {
            BlobStorageException s = storageException(e);
            if (s != null && (s.getStatusCode() == 412 || isBlobNotFound(s))) {
                throw new IOException("blob " + key + " in " + where + " was replaced or deleted while it was being read"
                        + " (at byte " + offset + "); read it again", s);
            }
            if (Thread.currentThread().isInterrupted()) {
                InterruptedIOException interrupted = new InterruptedIOException("reading " + key + " was cancelled");
                interrupted.initCause(e);
                throw interrupted;
            }
            throw failure("reading", key, e);
        }
        if (bytes == null || bytes.length != length) {
            throw new IOException("reading " + key + " from " + where + ": asked for " + length + " bytes at " + offset
                    + ", got " + (bytes == null ? 0 : bytes.length));
        }
        return bytes;
    }

    /**
     * The body of one download. Closing it part-way cancels the download; closing it before the
     * first read (when the body was never subscribed to) closes the response and its connection.
     */
    private static final class ResponseStream extends FilterInputStream {
        private final BlobDownloadAsyncResponse response;
        private boolean started;

        ResponseStream(InputStream body, BlobDownloadAsyncResponse response) {
            super(body);
            this.response = response;
        }

        @Override
        public int read() throws IOException {
            started = true;
            return super.read();
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            started = true;
            return super.read(b, off, len);
        }

        @Override
        public long skip(long n) throws IOException {
            started = true;
            return super.skip(n);
        }

        @Override
        public void close() throws IOException {
            try {
                super.close();
            } finally {
                if (!started) {
                    started = true;
                    response.close();
                }
            }
        }
    }

    @Override
    public Optional<BlobInfo> stat(BlobKey key) throws IOException {
        try {
            BlobProperties properties = container.getBlobClient(blobName(key)).getPropertiesWithResponse(null, null, Context.NONE)
                    .getValue();
            return Optional.of(new BlobInfo(key, properties.getBlobSize(), instant(properties.getLastModified())));
        } catch (RuntimeException e) {
            if (isBlobNotFound(e)) {
                return Optional.empty();
            }
            throw failure("reading the properties of", key, e);
        }
    }

    @Override
    public boolean delete(BlobKey key) throws IOException {
        try {
            container.getBlobClient(blobName(key)).deleteWithResponse(null, null, null, Context.NONE);
            return true;
        } catch (RuntimeException e) {
            if (isBlobNotFound(e)) {
                return false;
            }
            throw failure("deleting", key, e);
        }
    }

    // ---------------------------------------------------------------- list

    @Override
    public Iterator<BlobInfo> list(String prefix, BlobKey startAfter) throws IOException {
        ListBlobsOptions options = new ListBlobsOptions().setPrefix(settings.keyPrefix() + prefix).setMaxResultsPerPage(1000);
        Iterator<BlobItem> items;
        try {
            items = container.listBlobs(options, null).iterator();
        } catch (RuntimeException e) {
            throw failure("listing", null, e);
        }
        return new CodePointOrder(new LazyIterator<>() {
            @Override
            protected BlobInfo computeNext() throws IOException {
                while (true) {
                    BlobItem item;
                    try {
                        if (!items.hasNext()) {
                            return null;
                        }
                        item = items.next();
                    } catch (RuntimeException e) {
                        throw failure("listing", null, e);
                    }
                    if (Boolean.TRUE.equals(item.isPrefix()) || Boolean.TRUE.equals(item.isDeleted())
                            || !item.getName().startsWith(settings.keyPrefix())) {
                        continue;
                    }
                    String name = item.getName().substring(settings.keyPrefix().length());
                    if (!BlobKey.isValid(name) || startAfter != null && BlobKey.compareKeys(name, startAfter.value()) <= 0) {
                        continue;
                    }
                    return new BlobInfo(BlobKey.of(name), item.getProperties().getContentLength(),
                            instant(item.getProperties().getLastModified()));
                }
            }
        });
    }

    @Override
    public String backendName() {
        return "azure";
    }

    @Override
    public void close() {
        transfers.shutdownNow();
        connections.dispose();
    }

    @Override
    public String toString() {
        return "AzureBlobStore[" + where + (settings.keyPrefix().isEmpty() ? "" : ", prefix " + settings.keyPrefix()) + "]";
    }

    // ---------------------------------------------------------------- helpers

    private String blobName(BlobKey key) {
        return settings.keyPrefix() + key.value();
    }

    private static Instant instant(OffsetDateTime time) {
        return time == null ? Instant.now() : time.toInstant();
    }

    private static BlobStorageException storageException(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof BlobStorageException s) {
                return s;
            }
        }
        return null;
    }

    /** 404 for the blob; a missing container is an error, not a missing blob. */
    private static boolean isBlobNotFound(Throwable e) {
        BlobStorageException s = storageException(e);
        return s != null && s.getStatusCode() == 404 && !BlobErrorCode.CONTAINER_NOT_FOUND.equals(s.getErrorCode());
    }

    /**
     * An IOException for a failed call that names the key (if any), the account and container,
     * and what the service said, but never the access key.
     */
    private IOException failure(String action, BlobKey key, Throwable e) {
        if (e instanceof IOException io && !(e instanceof UncheckedIOException)) {
            return io;
        }
        if (key != null && isBlobNotFound(e) && "reading".equals(action)) {
            return new BlobNotFoundException(key);
        }
        String what = action + (key == null ? "" : " " + key) + " in " + where;
        BlobStorageException s = storageException(e);
        if (s != null) {
            String code = s.getErrorCode() == null ? "" : " " + s.getErrorCode();
            if (s.getStatusCode() == 403) {
                return new IOException(what + " failed: the service refused the credentials (HTTP 403" + code
                        + "); check the account name and its access key", s);
            }
            if (BlobErrorCode.CONTAINER_NOT_FOUND.equals(s.getErrorCode())) {
                return new IOException(what + " failed: the container does not exist (HTTP 404 ContainerNotFound);"
                        + " create it, or fix the container setting", s);
            }
            return new IOException(what + " failed: HTTP " + s.getStatusCode() + code, s);
        }
        Throwable cause = e;
        while (cause.getCause() != null && (cause instanceof UncheckedIOException || cause.getClass() == RuntimeException.class
                || cause instanceof ExecutionException)) {
            cause = cause.getCause();
        }
        return new IOException(what + " failed: " + cause, cause);
    }

    private static SslContext sslContext(StorageTls tls) throws IOException {
        if (tls.caFile().isEmpty() && tls.certFile().isEmpty()) {
            return null;
        }
        try {
            SslContextBuilder builder = SslContextBuilder.forClient();
            if (tls.caFile().isPresent()) {
                builder.trustManager(tls.caFile().get().toFile());
            }
            if (tls.certFile().isPresent()) {
                builder.keyManager(tls.certFile().get().toFile(), tls.keyFile().orElseThrow().toFile());
            }
            return builder.build();
        } catch (IllegalArgumentException e) {
            throw new IOException("cannot use the storage TLS files (CA " + tls.caFile().orElse(null) + ", certificate "
                    + tls.certFile().orElse(null) + ", key " + tls.keyFile().orElse(null) + "): " + e.getMessage(), e);
        }
    }

    /**
     * azure-core's retry with exponential backoff and jitter, placed once per call (outside the
     * Storage SDK's own one-try policy), so that each attempt is signed afresh.
     */
    private static final class JitteredRetry implements HttpPipelinePolicy {
        private final RetryPolicy delegate;

        JitteredRetry(int maxAttempts) {
            this.delegate = new RetryPolicy(new ExponentialBackoff(maxAttempts - 1, FIRST_RETRY_DELAY, MAX_RETRY_DELAY));
        }

        @Override
        public Mono<HttpResponse> process(HttpPipelineCallContext context, HttpPipelineNextPolicy next) {
            return delegate.process(context, next);
        }

        @Override
        public HttpResponse processSync(HttpPipelineCallContext context, HttpPipelineNextSyncPolicy next) {
            return delegate.processSync(context, next);
        }

        @Override
        public HttpPipelinePosition getPipelinePosition() {
            return HttpPipelinePosition.PER_CALL;
        }
    }
}
