package dev.builderd.storage.blob.s3;

import static org.assertj.core.api.Assertions.assertThat;

import dev.builderd.storage.testing.S3ProxyServer;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * What a process killed mid-upload leaves on a real S3 server (an initiated multipart upload with
 * a part, never completed or aborted) is found and aborted once it is older than the cutoff;
 * uploads that started after the cutoff, which may still be running, are kept.
 */
class S3AbandonedUploadsTest {

    private static S3ProxyServer server;
    private static S3Client raw;
    private static String bucket;

    @BeforeAll
    static void start() {
        server = S3ProxyServer.shared();
        bucket = server.newBucket();
        raw = S3TestSupport.rawClient(server);
    }

    @AfterAll
    static void close() {
        raw.close();
    }

    private static void leaveAnUploadBehind(String key) {
        String uploadId = raw.createMultipartUpload(b -> b.bucket(bucket).key(key)).uploadId();
        raw.uploadPart(b -> b.bucket(bucket).key(key).uploadId(uploadId).partNumber(1), RequestBody.fromBytes(new byte[1024]));
    }

    @Test
    void abortsUploadsOlderThanTheCutoffUnderItsPrefixOnly() throws Exception {
        leaveAnUploadBehind("mine/tenants/acme/builds/b1/rootfs/filesystem.ext4");
        leaveAnUploadBehind("other/tenants/acme/builds/b1/rootfs/filesystem.ext4");
        try (S3BlobStore store = new S3BlobStore(S3TestSupport.settings(server, bucket).withKeyPrefix("mine/"))) {
            Instant beforeTheyStarted = Instant.now().minus(1, ChronoUnit.HOURS);
            assertThat(store.abortUploadsStartedBefore(beforeTheyStarted)).as("a running upload is kept").isZero();
            assertThat(S3TestSupport.multipartUploads(raw, bucket, "mine/")).hasSize(1);

            assertThat(store.abortUploadsStartedBefore(Instant.now().plus(1, ChronoUnit.MINUTES))).isEqualTo(1);
            assertThat(S3TestSupport.multipartUploads(raw, bucket, "mine/")).isEmpty();
            assertThat(S3TestSupport.multipartUploads(raw, bucket, "other/")).as("another store's prefix").hasSize(1);
        }
    }
}
