package dev.builderd.storage.blob.s3;

import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.testing.BlobStoreContract;
import dev.builderd.storage.testing.CephServer;
import dev.builderd.storage.testing.EncryptedContract;
import java.net.URI;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Nested;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * {@link S3BlobStore} against the whole {@link BlobStoreContract} on a real Ceph RADOS Gateway
 * (single-node Ceph 16 started by {@link CephServer}): Ceph users reach it through the S3
 * backend with {@code UNKEY_BUILDERD_S3_ENDPOINT}. Unlike s3proxy, RGW lists in code point order,
 * so every listing case runs here.
 */
class CephRgwContractTest extends BlobStoreContract {

    private static final AtomicInteger TESTS = new AtomicInteger();
    private static CephServer ceph;
    private static String bucket;
    private static S3Client raw;

    private String prefix;

    @BeforeAll
    static void startCeph() {
        ceph = CephServer.shared();
        bucket = ceph.newBucketName();
        raw = S3TestSupport.rawClient(URI.create(ceph.rgwEndpoint()), "us-east-1", ceph.accessKey(), ceph.secretKey());
        raw.createBucket(b -> b.bucket(bucket));
    }

    @AfterAll
    static void closeClient() {
        raw.close();
    }

    @Override
    protected BlobStore newStore() throws Exception {
        prefix = "test-" + TESTS.incrementAndGet() + "/";
        return new S3BlobStore(S3TestSupport.settings(URI.create(ceph.rgwEndpoint()), "us-east-1", ceph.accessKey(),
                ceph.secretKey(), bucket).withKeyPrefix(prefix));
    }

    /** Three parts and a bit: a parallel multipart upload and parallel ranged reads. */
    @Override
    protected long largeBlobSize() {
        return 3L * S3TestSupport.SMALL_PARTS.partSize() + 12_345;
    }

    /** Unfinished multipart uploads under this test's prefix. */
    @Override
    protected List<String> leftovers() {
        return S3TestSupport.multipartUploads(raw, bucket, prefix);
    }

    /** The same contract with every blob encrypted: encryption at rest works on this backend. */
    @Nested
    class Encrypted extends EncryptedContract {
        @Override
        protected BlobStoreContract plain() {
            return CephRgwContractTest.this;
        }
    }
}
