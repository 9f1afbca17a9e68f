package dev.builderd.storage.blob.s3;

import dev.builderd.storage.blob.AbandonedUploadCleanup;
import dev.builderd.storage.blob.BlobAlreadyExistsException;
import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobNotFoundException;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.LazyIterator;
import dev.builderd.storage.blob.ParallelRangeInputStream;
import dev.builderd.storage.blob.Pem;
import dev.builderd.storage.blob.UploadLengthMismatchException;
import dev.builderd.storage.blob.WriteMode;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.SequenceInputStream;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import javax.net.ssl.KeyManager;
import javax.net.ssl.TrustManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.core.ResponseInputStream;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.client.config.ClientOverrideConfiguration;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.http.apache5.Apache5HttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.retries.api.BackoffStrategy;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3Configuration;
import software.amazon.awssdk.services.s3.S3ClientBuilder;
import software.amazon.awssdk.services.s3.model.AbortMultipartUploadRequest;
import software.amazon.awssdk.services.s3.model.CompleteMultipartUploadRequest;
import software.amazon.awssdk.services.s3.model.CompletedMultipartUpload;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.CreateMultipartUploadRequest;
import software.amazon.awssdk.services.s3.model.GetObjectRequest;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Request;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;
import software.amazon.awssdk.services.s3.model.S3Object;
import software.amazon.awssdk.services.s3.model.UploadPartResponse;

/**
 * A {@link BlobStore} on one bucket of AWS S3 or an S3-compatible server (MinIO, Ceph RADOS
 * Gateway, s3proxy), through the AWS SDK v2 synchronous client on the Apache 5 HTTP client.
 *
 * <ul>
 *   <li><b>put</b>: a blob of at most {@link dev.builderd.storage.blob.ParallelIo#partSize()}
 *       bytes (declared, or of unknown length that turns out that small) is buffered and sent as
 *       one {@code PutObject}; a larger one is a multipart upload whose parts are read into
 *       part-sized buffers and uploaded by up to {@code workers} threads at once (at most
 *       {@code workers + 1} part buffers per upload: one filling while {@code workers} upload). Any failure (the stream throwing, a length
 *       mismatch, a part failing, {@code CREATE_NEW} losing) aborts the multipart upload, so no
 *       parts are left behind. {@link WriteMode#CREATE_NEW} sends {@code If-None-Match: *} on
 *       {@code PutObject} and on {@code CompleteMultipartUpload} (HTTP 412 becomes
 *       {@link BlobAlreadyExistsException}); a multipart {@code CREATE_NEW} also checks first, to
 *       fail before uploading gigabytes. The {@link BlobInfo#lastModified()} returned by put is the
 *       local clock at completion; {@link #stat} gives the server's.</li>
 *   <li><b>open</b>: {@code GetObject} with a {@code Range} header. A range larger than two parts
 *       (or to the end) is read as its first part streamed directly while the following parts are
 *       fetched ahead by up to {@code workers} ranged {@code GetObject}s pinned to the first
 *       response's ETag ({@code If-Match}), delivered in order. If the blob is replaced or deleted
 *       while such a read is under way, the read fails with an {@link IOException} instead of
 *       mixing two versions (the contract's snapshot promise holds fully for reads of up to two
 *       parts).</li>
 *   <li><b>stat</b> is {@code HeadObject}; <b>delete</b> is {@code HeadObject} (to report whether
 *       the blob existed) then {@code DeleteObject}; the report can be wrong under a concurrent
 *       delete of the same key, the deletion itself cannot.</li>
 *   <li><b>list</b> is {@code ListObjectsV2} with {@code StartAfter}, paged lazily; objects whose
 *       name is not a valid {@link BlobKey} (written by something else) are skipped.</li>
 * </ul>
 *
 * <p>Requests carry server-side encryption headers per {@link S3Settings#encryption()}, compute
 * and validate checksums only when the operation requires them (so Ceph RGW and GCS's S3 API
 * accept them), and are retried by the SDK's standard strategy (retryable errors only, exponential
 * backoff with full jitter, {@link dev.builderd.storage.blob.RemoteTimeouts#maxAttempts()}
 * attempts). Errors are {@link IOException}s naming the key, the bucket and the endpoint, never the
 * secret key.
 */
public final class S3BlobStore implements BlobStore, AbandonedUploadCleanup, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(S3BlobStore.class);

    /** S3 allows at most 10,000 parts per multipart upload. */
    static final int MAX_PARTS = 10_000;
    private static final String OCTET_STREAM = "application/octet-stream";

    private final S3Settings settings;
    private final SdkHttpClient http;
    private final S3Client client;
    private final ExecutorService executor = Executors.newThreadPerTaskExecutor(
            Thread.ofVirtual().name("s3-io-", 0).factory());
    private final S3Errors errors;

    /**
     * A store on {@code settings.bucket()}. Makes no request: call {@link #checkBucket()} to
     * verify reachability, credentials and the bucket at start-up.
     *
     * @throws IOException if a TLS file of {@link S3Settings#tls()} cannot be read or used
     */
    public S3BlobStore(S3Settings settings) throws IOException {
        this(settings, List.of());
    }

    /** As {@link #S3BlobStore(S3Settings)}, with SDK interceptors (tests observe requests with them). */
    S3BlobStore(S3Settings settings, List<ExecutionInterceptor> interceptors) throws IOException {
        this.settings = Objects.requireNonNull(settings, "settings");
        this.errors = new S3Errors(settings);
        this.http = httpClient(settings);
        try {
            this.client = s3Client(settings, http, interceptors);
        } catch (RuntimeException e) {
            http.close();
            throw e;
        }
    }

    private static SdkHttpClient httpClient(S3Settings settings) throws IOException {
        Apache5HttpClient.Builder builder = Apache5HttpClient.builder()
                .connectionTimeout(settings.timeouts().connect())
                .socketTimeout(settings.timeouts().request())
                .connectionAcquisitionTimeout(settings.timeouts().request())
                .maxConnections(Math.max(50, settings.parallelIo().workers() * 16))
                .tcpKeepAlive(true);
        try {
            if (settings.tls().caFile().isPresent()) {
                TrustManager[] trust = Pem.trustManagers(settings.tls().caFile().get());
                builder.tlsTrustManagersProvider(() -> trust);
            }
            if (settings.tls().certFile().isPresent()) {
                KeyManager[] keys = Pem.keyManagers(settings.tls().certFile().get(), settings.tls().keyFile().orElseThrow());
                builder.tlsKeyManagersProvider(() -> keys);
            }
        } catch (IOException e) {
            throw new IOException("storage TLS: " + e.getMessage(), e);
        }
        return builder.build();
    }

    private static S3Client s3Client(S3Settings settings, SdkHttpClient http, List<ExecutionInterceptor> interceptors) {
        ClientOverrideConfiguration.Builder override = ClientOverrideConfiguration.builder()
                .retryStrategy(AwsRetryStrategy.standardRetryStrategy().toBuilder()
                        .maxAttempts(settings.timeouts().maxAttempts())
                        .backoffStrategy(BackoffStrategy.exponentialDelay(Duration.ofMillis(100), Duration.ofSeconds(20)))
                        .throttlingBackoffStrategy(BackoffStrategy.exponentialDelay(Duration.ofMillis(500), Duration.ofSeconds(20)))
                        .build());
        interceptors.forEach(override::addExecutionInterceptor);
        S3ClientBuilder builder = S3Client.builder()
                .httpClient(http)
                .region(Region.of(settings.region()))
                .credentialsProvider(StaticCredentialsProvider.create(
                        AwsBasicCredentials.create(settings.accessKeyId(), settings.secretAccessKey())))
                .forcePathStyle(settings.pathStyle())
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                // Signed aws-chunked bodies are refused by Ceph RGW 16 for empty objects
                // (XAmzContentSHA256Mismatch); plain signed payloads work everywhere.
                .serviceConfiguration(S3Configuration.builder().chunkedEncodingEnabled(false).build())
                .overrideConfiguration(override.build());
        settings.endpoint().ifPresent(builder::endpointOverride);
        return builder.build();
    }

    /** The settings this store was made with. */
    public S3Settings settings() {
        return settings;
    }

    /**
     * Verifies that the endpoint answers, the credentials are accepted and the bucket exists
     * ({@code HeadBucket}), for start-up and health checks.
     *
     * @throws IOException naming the bucket and endpoint, saying which of these failed
     */
    public void checkBucket() throws IOException {
        try {
            client.headBucket(b -> b.bucket(settings.bucket()));
        } catch (SdkException e) {
            throw errors.translate("reach", null, e);
        }
    }

    // ---------------------------------------------------------------- put

    @Override
    public BlobInfo put(BlobKey key, InputStream data, long length, WriteMode mode) throws IOException {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(data, "data");
        Objects.requireNonNull(mode, "mode");
        if (length < -1) {
            throw new IllegalArgumentException("length must be -1 (unknown) or >= 0, was " + length);
        }
        int partSize = settings.parallelIo().partSize();
        if (length >= 0 && length <= partSize) {
            byte[] body = readExactly(key, data, (int) length);
            return putSingle(key, body, body.length, mode);
        }
        if (length < 0) {
            byte[] first = new byte[partSize];
            int n = data.readNBytes(first, 0, partSize);
            if (n < partSize) {
                return putSingle(key, first, n, mode);
            }
            return putMultipart(key, data, length, mode, first);
        }
        if (length > (long) MAX_PARTS * partSize) {
            throw new IOException("cannot upload " + key + ": " + length + " bytes need more than " + MAX_PARTS
                    + " parts of " + partSize + " bytes; raise the part size");
        }
        return putMultipart(key, data, length, mode, null);
    }

    /** Reads exactly {@code length} bytes and checks that the stream then ends. */
    private static byte[] readExactly(BlobKey key, InputStream data, int length) throws IOException {
        byte[] body = new byte[length];
        int n = data.readNBytes(body, 0, length);
        if (n < length) {
            throw new UploadLengthMismatchException(key, length, n);
        }
        if (data.read() >= 0) {
            throw new UploadLengthMismatchException(key, length, length + 1L);
        }
        return body;
    }

    private BlobInfo putSingle(BlobKey key, byte[] body, int length, WriteMode mode) throws IOException {
        PutObjectRequest.Builder request = PutObjectRequest.builder()
                .bucket(settings.bucket())
                .key(objectKey(key))
                .contentLength((long) length)
                .contentType(OCTET_STREAM);
        switch (settings.encryption()) {
            case NONE -> { }
            case AES256, AWS_KMS -> request.serverSideEncryption(settings.encryption().headerValue());
        }
        settings.kmsKeyId().ifPresent(request::ssekmsKeyId);
        if (mode == WriteMode.CREATE_NEW) {
            request.ifNoneMatch("*");
        }
        PutObjectRequest put = request.build();
        for (int attempt = 1; ; attempt++) {
            try {
                client.putObject(put,
                        RequestBody.fromContentProvider(() -> new ByteArrayInputStream(body, 0, length), length, OCTET_STREAM));
                return new BlobInfo(key, length, Instant.now());
            } catch (SdkException e) {
                int status = S3Errors.status(e);
                if (mode == WriteMode.CREATE_NEW && status == 412) {
                    throw new BlobAlreadyExistsException(key);
                }
                // AWS answers 409 ConditionalRequestConflict when conditional writes of one key
                // race; asking again settles it (412 if the other writer won).
                if (mode == WriteMode.CREATE_NEW && status == 409 && attempt < settings.timeouts().maxAttempts()) {
                    continue;
                }
                throw errors.translate("put", key, e);
            }
        }
    }

    /**
     * A multipart upload. {@code first}, when given, is a full first part already read from
     * {@code data} (unknown length).
     */
    private BlobInfo putMultipart(BlobKey key, InputStream data, long length, WriteMode mode, byte[] first) throws IOException {
        if (mode == WriteMode.CREATE_NEW && stat(key).isPresent()) {
            throw new BlobAlreadyExistsException(key);
        }
        String objectKey = objectKey(key);
        String uploadId = createMultipartUpload(key, objectKey);
        MultipartUpload upload = new MultipartUpload(key, objectKey, uploadId);
        try {
            long received = upload.sendParts(data, length, first);
            upload.complete(mode);
            return new BlobInfo(key, received, Instant.now());
        } catch (Throwable failure) {
            upload.abort(failure);
            throw failure;
        }
    }

    private String createMultipartUpload(BlobKey key, String objectKey) throws IOException {
        CreateMultipartUploadRequest.Builder request = CreateMultipartUploadRequest.builder()
                .bucket(settings.bucket())
                .key(objectKey)
                .contentType(OCTET_STREAM);
        switch (settings.encryption()) {
            case NONE -> { }
            case AES256, AWS_KMS -> request.serverSideEncryption(settings.encryption().headerValue());
        }
        settings.kmsKeyId().ifPresent(request::ssekmsKeyId);
        try {
            return client.createMultipartUpload(request.build()).uploadId();
        } catch (SdkException e) {
            throw errors.translate("start the multipart upload of", key, e);
        }
    }

    /** One multipart upload in progress: its part buffers, its part uploads, and its abort. */
    private final class MultipartUpload {
        private final BlobKey key;
        private final String objectKey;
        private final String uploadId;
        private final int partSize = settings.parallelIo().partSize();
        private final int maxBuffers = settings.parallelIo().workers() + 1;
        /** Buffers not in use; a part upload returns its buffer here when it ends, however it ends. */
        private final BlockingQueue<byte[]> free = new ArrayBlockingQueue<>(maxBuffers);
        private final List<Future<CompletedPart>> parts = new ArrayList<>();
        /** One permit per part upload that may run: at most {@code workers} at once. */
        private final Semaphore running = new Semaphore(settings.parallelIo().workers());
        private int allocated;
        /** Set on failure: part uploads that have not started yet skip their request. */
        private volatile boolean aborting;

        MultipartUpload(BlobKey key, String objectKey, String uploadId) {
            this.key = key;
            this.objectKey = objectKey;
            this.uploadId = uploadId;
        }

        /** Reads and uploads all parts; returns the number of bytes sent. */
        long sendParts(InputStream data, long length, byte[] first) throws IOException {
            boolean known = length >= 0;
            long received = 0;
            byte[] buffer;
            int n;
            if (first != null) {
                allocated = 1;
                buffer = first;
                n = first.length;
            } else {
                buffer = takeBuffer();
                n = data.readNBytes(buffer, 0, (int) Math.min(partSize, length));
            }
            while (true) {
                if (parts.size() == MAX_PARTS) {
                    throw new IOException("cannot upload " + key + ": it needs more than " + MAX_PARTS + " parts of "
                            + partSize + " bytes; raise the part size");
                }
                received += n;
                submitPart(parts.size() + 1, buffer, n);
                long wanted = known ? Math.min(partSize, length - received) : partSize;
                if (n < partSize || wanted == 0) {
                    break;
                }
                buffer = takeBuffer();
                n = data.readNBytes(buffer, 0, (int) wanted);
                if (n == 0) {
                    break;
                }
            }
            if (known) {
                if (received < length) {
                    throw new UploadLengthMismatchException(key, length, received);
                }
                if (data.read() >= 0) {
                    throw new UploadLengthMismatchException(key, length, length + 1);
                }
            }
            return received;
        }

        private void submitPart(int partNumber, byte[] buffer, int n) throws IOException {
            try {
                running.acquire();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                free.add(buffer);
                throw interrupted(e);
            }
            parts.add(executor.submit(() -> {
                try {
                    if (aborting) {
                        throw new IOException("upload of " + key + " is being aborted");
                    }
                    UploadPartResponse response = client.uploadPart(b -> b.bucket(settings.bucket()).key(objectKey)
                                    .uploadId(uploadId).partNumber(partNumber).contentLength((long) n),
                            RequestBody.fromContentProvider(() -> new ByteArrayInputStream(buffer, 0, n), n, OCTET_STREAM));
                    return CompletedPart.builder().partNumber(partNumber).eTag(response.eTag()).build();
                } finally {
                    running.release();
                    free.add(buffer);
                }
            }));
            failFast();
        }

        /** A free part buffer: a returned one, a new one while fewer than workers + 1 exist, or waits. */
        private byte[] takeBuffer() throws IOException {
            failFast();
            byte[] buffer = free.poll();
            if (buffer != null) {
                return buffer;
            }
            if (allocated < maxBuffers) {
                allocated++;
                return new byte[partSize];
            }
            try {
                buffer = free.take();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw interrupted(e);
            }
            free.add(buffer);
            failFast();
            return free.remove();
        }

        /** Throws the failure of a part upload that has already failed. */
        private void failFast() throws IOException {
            for (Future<CompletedPart> part : parts) {
                if (part.isDone()) {
                    result(part);
                }
            }
        }

        private CompletedPart result(Future<CompletedPart> part) throws IOException {
            try {
                return part.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw interrupted(e);
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                if (cause instanceof SdkException sdk) {
                    throw errors.translate("upload a part of", key, sdk);
                }
                if (cause instanceof IOException io) {
                    throw io;
                }
                if (cause instanceof RuntimeException runtime) {
                    throw runtime;
                }
                throw new IOException("upload of a part of " + key + " failed: " + cause, cause);
            }
        }

        void complete(WriteMode mode) throws IOException {
            List<CompletedPart> done = new ArrayList<>(parts.size());
            for (Future<CompletedPart> part : parts) {
                done.add(result(part));
            }
            CompleteMultipartUploadRequest.Builder request = CompleteMultipartUploadRequest.builder()
                    .bucket(settings.bucket())
                    .key(objectKey)
                    .uploadId(uploadId)
                    .multipartUpload(CompletedMultipartUpload.builder().parts(done).build());
            if (mode == WriteMode.CREATE_NEW) {
                request.ifNoneMatch("*");
            }
            try {
                client.completeMultipartUpload(request.build());
            } catch (SdkException e) {
                if (mode == WriteMode.CREATE_NEW && S3Errors.status(e) == 412) {
                    throw new BlobAlreadyExistsException(key);
                }
                throw errors.translate("complete the multipart upload of", key, e);
            }
        }

        /**
         * Lets no further part upload start, waits until the running ones have ended (each is
         * bounded by the request timeout), and aborts the upload; failures are suppressed into
         * {@code cause}. Waiting first matters: a part that lands after the abort would be orphaned.
         */
        void abort(Throwable cause) {
            aborting = true;
            boolean wasInterrupted = Thread.interrupted();
            for (Future<CompletedPart> part : parts) {
                while (true) {
                    try {
                        part.get();
                        break;
                    } catch (InterruptedException e) {
                        wasInterrupted = true;
                    } catch (ExecutionException | CancellationException e) {
                        break;
                    }
                }
            }
            try {
                client.abortMultipartUpload(AbortMultipartUploadRequest.builder()
                        .bucket(settings.bucket()).key(objectKey).uploadId(uploadId).build());
            } catch (SdkException e) {
                IOException failure = errors.translate("abort the multipart upload " + uploadId + " of", key, e);
                LOG.warn("{}; its parts stay until a bucket lifecycle rule removes them", failure.getMessage());
                cause.addSuppressed(failure);
            } finally {
                if (wasInterrupted) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    // ---------------------------------------------------------------- open

    @Override
    public InputStream open(BlobKey key, ByteRange range) throws IOException {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(range, "range");
        if (range.length() == 0) {
            if (stat(key).isEmpty()) {
                throw new BlobNotFoundException(key);
            }
            return InputStream.nullInputStream();
        }
        int partSize = settings.parallelIo().partSize();
        int workers = settings.parallelIo().workers();
        boolean toEnd = range.length() > Long.MAX_VALUE - range.offset() - 1 || range.length() == ByteRange.TO_END;
        boolean parallel = workers > 1 && (toEnd || range.length() > 2L * partSize);
        String rangeHeader;
        if (parallel) {
            rangeHeader = "bytes=" + range.offset() + "-" + (range.offset() + partSize - 1);
        } else if (range.isAll()) {
            rangeHeader = null;
        } else {
            rangeHeader = "bytes=" + range.offset() + "-" + (toEnd ? "" : Long.toString(range.offset() + range.length() - 1));
        }
        ResponseInputStream<GetObjectResponse> first;
        try {
            first = client.getObject(GetObjectRequest.builder()
                    .bucket(settings.bucket()).key(objectKey(key)).range(rangeHeader).build());
        } catch (SdkException e) {
            int status = S3Errors.status(e);
            if (status == 404 && !S3Errors.isNoSuchBucket(e)) {
                throw new BlobNotFoundException(key);
            }
            if (status == 416) {
                return InputStream.nullInputStream();
            }
            throw errors.translate("read", key, e);
        }
        if (!parallel) {
            return first;
        }
        long total = ByteRange.totalSizeOf(first.response().contentRange());
        long end = toEnd ? total : Math.min(total, range.offset() + range.length());
        long next = range.offset() + partSize;
        if (total < 0 || next >= end) {
            return first;
        }
        String eTag = first.response().eTag();
        InputStream rest = new ParallelRangeInputStream((offset, length) -> fetchPart(key, eTag, offset, length),
                executor, next, end, partSize, workers);
        return new SequenceInputStream(first, rest);
    }

    private byte[] fetchPart(BlobKey key, String eTag, long offset, int length) throws IOException {
        GetObjectRequest.Builder request = GetObjectRequest.builder()
                .bucket(settings.bucket()).key(objectKey(key))
                .range("bytes=" + offset + "-" + (offset + length - 1));
        if (eTag != null) {
            request.ifMatch(eTag);
        }
        byte[] bytes;
        try (ResponseInputStream<GetObjectResponse> in = client.getObject(request.build())) {
            bytes = in.readAllBytes();
        } catch (SdkException e) {
            int status = S3Errors.status(e);
            if (status == 412 || (status == 404 && !S3Errors.isNoSuchBucket(e))) {
                throw new IOException("blob " + key + " was replaced or deleted while it was being read (at byte " + offset
                        + "); read it again", e);
            }
            throw errors.translate("read", key, e);
        }
        if (bytes.length != length) {
            throw new IOException("blob " + key + ": asked for " + length + " bytes at " + offset + ", got " + bytes.length);
        }
        return bytes;
    }

    // ---------------------------------------------------------------- stat, delete, list

    @Override
    public Optional<BlobInfo> stat(BlobKey key) throws IOException {
        Objects.requireNonNull(key, "key");
        try {
            HeadObjectResponse head = client.headObject(b -> b.bucket(settings.bucket()).key(objectKey(key)));
            return Optional.of(new BlobInfo(key, head.contentLength(), head.lastModified()));
        } catch (SdkException e) {
            if (S3Errors.status(e) == 404) {
                return Optional.empty();
            }
            throw errors.translate("stat", key, e);
        }
    }

    @Override
    public boolean delete(BlobKey key) throws IOException {
        if (stat(key).isEmpty()) {
            return false;
        }
        try {
            client.deleteObject(b -> b.bucket(settings.bucket()).key(objectKey(key)));
            return true;
        } catch (SdkException e) {
            throw errors.translate("delete", key, e);
        }
    }

    @Override
    public Iterator<BlobInfo> list(String prefix, BlobKey startAfter) throws IOException {
        Objects.requireNonNull(prefix, "prefix");
        Listing listing = new Listing(settings.keyPrefix() + prefix,
                startAfter == null ? null : settings.keyPrefix() + startAfter.value());
        listing.fetch();
        return listing;
    }

    /** A lazy walk over ListObjectsV2 pages. */
    private final class Listing extends LazyIterator<BlobInfo> {
        private final String fullPrefix;
        private final String startAfter;
        private Iterator<S3Object> page = Collections.emptyIterator();
        private String continuation;
        private boolean lastPage;
        private boolean started;

        Listing(String fullPrefix, String startAfter) {
            this.fullPrefix = fullPrefix;
            this.startAfter = startAfter;
        }

        void fetch() throws IOException {
            ListObjectsV2Request.Builder request = ListObjectsV2Request.builder().bucket(settings.bucket()).maxKeys(1000);
            if (!fullPrefix.isEmpty()) {
                request.prefix(fullPrefix);
            }
            if (!started && startAfter != null) {
                request.startAfter(startAfter);
            }
            if (continuation != null) {
                request.continuationToken(continuation);
            }
            ListObjectsV2Response response;
            try {
                response = client.listObjectsV2(request.build());
            } catch (SdkException e) {
                throw errors.translate("list the prefix '" + fullPrefix + "' in", null, e);
            }
            started = true;
            page = response.contents().iterator();
            continuation = response.nextContinuationToken();
            lastPage = !Boolean.TRUE.equals(response.isTruncated()) || continuation == null;
        }

        @Override
        protected BlobInfo computeNext() throws IOException {
            while (true) {
                if (page.hasNext()) {
                    S3Object object = page.next();
                    String name = object.key();
                    String value = name.startsWith(settings.keyPrefix()) ? name.substring(settings.keyPrefix().length()) : null;
                    if (value != null && BlobKey.isValid(value)) {
                        return new BlobInfo(BlobKey.of(value), object.size(), object.lastModified());
                    }
                } else if (lastPage) {
                    return null;
                } else {
                    fetch();
                }
            }
        }

    }

    @Override
    public String backendName() {
        return "s3";
    }

    /** Stops the part uploads and range reads still running, and closes the HTTP connections. */
    /**
     * Aborts the multipart uploads under this store's key prefix that started before
     * {@code startedBefore}: what a process killed mid-upload, or an abort that never reached a
     * dead backend, leaves behind. (A bucket lifecycle rule {@code AbortIncompleteMultipartUpload}
     * does the same on AWS; this works on every S3-compatible server.)
     */
    @Override
    public int abortUploadsStartedBefore(Instant startedBefore) throws IOException {
        int aborted = 0;
        try {
            for (software.amazon.awssdk.services.s3.model.MultipartUpload upload : client.listMultipartUploadsPaginator(b -> b.bucket(settings.bucket())
                    .prefix(settings.keyPrefix())).uploads()) {
                if (upload.initiated() != null && upload.initiated().isBefore(startedBefore)) {
                    client.abortMultipartUpload(b -> b.bucket(settings.bucket()).key(upload.key()).uploadId(upload.uploadId()));
                    aborted++;
                }
            }
        } catch (SdkException e) {
            throw errors.translate("abort abandoned multipart uploads in", null, e);
        }
        return aborted;
    }

    @Override
    public void close() {
        executor.shutdownNow();
        client.close();
        http.close();
    }

    private String objectKey(BlobKey key) {
        return settings.keyPrefix() + key.value();
    }

    private static InterruptedIOException interrupted(InterruptedException e) {
        InterruptedIOException interrupted = new InterruptedIOException("interrupted during an S3 upload");
        interrupted.initCause(e);
        return interrupted;
    }

    @Override
    public String toString() {
        return "S3BlobStore[" + errors.where() + "]";
    }
}
