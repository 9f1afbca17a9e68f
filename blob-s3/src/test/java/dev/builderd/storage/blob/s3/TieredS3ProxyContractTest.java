package dev.builderd.storage.blob.s3;

import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.TieredBlobStore;
import dev.builderd.storage.testing.BlobStoreContract;
import dev.builderd.storage.testing.S3ProxyServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * {@link TieredBlobStore} with a memory and a disk tier in front of an {@link S3BlobStore} on a
 * real s3proxy, against the whole {@link BlobStoreContract}: the daemon's stack for caches on S3
 * (without the circuit breaker and encryption, which have their own contract runs).
 */
@ExtendWith(S3ProxyListOrderDeviation.class)
class TieredS3ProxyContractTest extends BlobStoreContract {

    private static final AtomicInteger TESTS = new AtomicInteger();
    private static S3ProxyServer server;
    private static String bucket;
    private static S3Client raw;

    @TempDir
    Path temp;

    private String prefix;
    private S3BlobStore remote;

    @BeforeAll
    static void startServer() {
        server = S3ProxyServer.shared();
        bucket = server.newBucket();
        raw = S3TestSupport.rawClient(server);
    }

    @AfterAll
    static void closeClient() {
        raw.close();
    }

    @Override
    protected BlobStore newStore() throws Exception {
        prefix = "tiered-" + TESTS.incrementAndGet() + "/";
        remote = new S3BlobStore(S3TestSupport.settings(server, bucket).withKeyPrefix(prefix));
        return new TieredBlobStore(remote, new TieredBlobStore.Settings(3L << 20, 1 << 20,
                Optional.of(Files.createTempDirectory(temp, "disk-tier")), 64L << 20, Duration.ofSeconds(30)));
    }

    @AfterEach
    void closeRemote() {
        remote.close();
    }

    @Override
    protected long largeBlobSize() {
        return 3L * S3TestSupport.SMALL_PARTS.partSize() + 12_345;
    }

    /** Unfinished multipart uploads under this test's prefix. */
    @Override
    protected List<String> leftovers() {
        return S3TestSupport.multipartUploads(raw, bucket, prefix);
    }
}
