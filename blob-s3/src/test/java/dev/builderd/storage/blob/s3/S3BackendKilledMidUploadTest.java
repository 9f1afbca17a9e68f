package dev.builderd.storage.blob.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.testing.S3ProxyServer;
import dev.builderd.storage.testing.SeededBytes;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * The backend dies (SIGKILL) in the middle of a parallel multipart upload: the put fails, its
 * abort cannot reach the dead server, and after the server comes back over the same disk no
 * object is visible and the abandoned-upload cleanup leaves no multipart upload behind.
 */
class S3BackendKilledMidUploadTest {

    @Test
    void nothingIsVisibleAndNoPartsLeakAfterRecovery() throws Exception {
        S3ProxyServer server = S3ProxyServer.startPrivate();
        String bucket = server.newBucket();
        BlobKey key = BlobKey.of("tenants/acme/builds/b1/rootfs/filesystem.ext4");
        long size = 8L * S3TestSupport.SMALL_PARTS.partSize();
        long killAfter = 3L * S3TestSupport.SMALL_PARTS.partSize();

        try (S3BlobStore store = new S3BlobStore(S3TestSupport.settings(server, bucket))) {
            InputStream killing = new FilterInputStream(SeededBytes.stream(11, size)) {
                private long read;

                @Override
                public int read(byte[] buffer, int offset, int length) throws IOException {
                    if (read >= killAfter && server.pid() > 0 && ProcessHandle.of(server.pid()).map(ProcessHandle::isAlive).orElse(false)) {
                        try {
                            server.kill();
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            throw new IOException(e);
                        }
                    }
                    int n = super.read(buffer, offset, length);
                    read += Math.max(n, 0);
                    return n;
                }
            };
            assertThatThrownBy(() -> store.put(key, killing, size, WriteMode.OVERWRITE)).isInstanceOf(IOException.class);
        }

        server.restart();
        try (S3BlobStore store = new S3BlobStore(S3TestSupport.settings(server, bucket));
                S3Client raw = S3TestSupport.rawClient(server)) {
            assertThat(store.stat(key)).as("no object after a failed upload").isEmpty();
            assertThat(store.list("", null)).toIterable().isEmpty();

            assertThat(S3TestSupport.multipartUploads(raw, bucket, "")).as("the upload the dead server could not abort")
                    .singleElement().asString().startsWith(key.value());
            assertThat(store.abortUploadsStartedBefore(Instant.now().plus(1, ChronoUnit.MINUTES))).isEqualTo(1);
            assertThat(S3TestSupport.multipartUploads(raw, bucket, "")).as("multipart uploads left after recovery").isEmpty();
            assertThat(List.of(raw.listObjectsV2(b -> b.bucket(bucket)).contents().toArray())).isEmpty();
        }
    }
}
