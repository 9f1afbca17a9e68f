package dev.builderd.storage.blob.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.blob.BlobAlreadyExistsException;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.RemoteTimeouts;
import dev.builderd.storage.blob.UploadLengthMismatchException;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.testing.FailingInputStream;
import dev.builderd.storage.testing.S3ProxyServer;
import dev.builderd.storage.testing.SeededBytes;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import software.amazon.awssdk.core.interceptor.Context;
import software.amazon.awssdk.core.interceptor.ExecutionAttributes;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.services.s3.S3Client;

/** What goes wrong with a real server (or a silent one), and that nothing is left behind. */
final class S3FaultsTest {

    private static final int MIB = 1 << 20;
    private static final long SEED = 42;

    private static S3ProxyServer server;
    private static String bucket;
    private static S3Client raw;

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

    private static S3BlobStore store(S3Settings settings) throws IOException {
        return new S3BlobStore(settings);
    }

    @Test
    void wrongCredentialsFailClearlyWithoutTheSecret() throws Exception {
        String wrongSecret = "wrong-secret-0123456789abcdef";
        S3Settings settings = S3TestSupport.settings(server, bucket).withCredentials(server.accessKey(), wrongSecret);
        try (S3BlobStore store = store(settings)) {
            for (ThrowingCall call : List.<ThrowingCall>of(
                    () -> store.put(BlobKey.of("creds/x"), SeededBytes.stream(SEED, 10), 10, WriteMode.OVERWRITE),
                    () -> store.stat(BlobKey.of("creds/x")),
                    () -> store.list("", null),
                    store::checkBucket)) {
                assertThatThrownBy(call::run)
                        .isInstanceOf(IOException.class)
                        .hasMessageContaining(bucket)
                        .hasMessageContaining(server.endpoint().toString())
                        .hasMessageContaining("access denied")
                        .satisfies(e -> assertThat(messages(e)).noneMatch(m -> m.contains(wrongSecret)));
            }
        }
    }

    @Test
    void missingBucketFailsClearly() throws Exception {
        String missing = "no-such-bucket-" + Long.toHexString(System.nanoTime());
        try (S3BlobStore store = store(S3TestSupport.settings(server, missing))) {
            assertThatThrownBy(() -> store.put(BlobKey.of("a"), SeededBytes.stream(SEED, 10), 10, WriteMode.OVERWRITE))
                    .isInstanceOf(IOException.class)
                    .hasMessageContaining(missing)
                    .hasMessageContaining("does not exist");
            assertThatThrownBy(() -> store.list("", null)).isInstanceOf(IOException.class).hasMessageContaining("does not exist");
            assertThatThrownBy(store::checkBucket).isInstanceOf(IOException.class)
                    .hasMessageContaining(missing).hasMessageContaining("does not exist");
        }
    }

    @Test
    void aServerThatNeverAnswersFailsWithinTheRequestTimeout() throws Exception {
        List<Socket> accepted = new CopyOnWriteArrayList<>();
        try (ServerSocket silent = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
            Thread acceptor = Thread.ofVirtual().start(() -> {
                try {
                    while (true) {
                        accepted.add(silent.accept());
                    }
                } catch (IOException e) {
                    // closed at the end of the test
                }
            });
            URI endpoint = URI.create("http://127.0.0.1:" + silent.getLocalPort());
            S3Settings settings = S3TestSupport.settings(server, bucket)
                    .withEndpoint(endpoint, true)
                    .withTimeouts(new RemoteTimeouts(Duration.ofSeconds(2), Duration.ofSeconds(1), 2));
            try (S3BlobStore store = store(settings)) {
                assertThatThrownBy(() -> store.stat(BlobKey.of("silent/key")))
                        .isInstanceOf(IOException.class)
                        .hasMessageContaining("silent/key")
                        .hasMessageContaining(endpoint.toString())
                        .satisfies(e -> assertThat(causes(e)).anyMatch(c -> c instanceof SocketTimeoutException
                                || String.valueOf(c.getMessage()).toLowerCase().contains("timed out")));
                assertThatThrownBy(() -> store.put(BlobKey.of("silent/put"), SeededBytes.stream(SEED, 100), 100, WriteMode.OVERWRITE))
                        .isInstanceOf(IOException.class)
                        .hasMessageContaining("silent/put");
            } finally {
                silent.close();
                acceptor.join(5000);
                for (Socket socket : accepted) {
                    socket.close();
                }
            }
        }
    }

    @ParameterizedTest(name = "declared length known: {0}")
    @ValueSource(booleans = {true, false})
    void aStreamFailingMidMultipartLeavesNoParts(boolean known) throws Exception {
        try (S3BlobStore store = store(S3TestSupport.settings(server, bucket).withKeyPrefix("mid-fail-" + known + "/"))) {
            BlobKey key = BlobKey.of("big/blob");
            long failAfter = 12L * MIB + 3;
            InputStream data = new FailingInputStream(SeededBytes.stream(SEED, failAfter), failAfter);

            assertThatThrownBy(() -> store.put(key, data, known ? 30L * MIB : -1, WriteMode.OVERWRITE))
                    .isInstanceOf(IOException.class)
                    .satisfies(e -> assertThat(causes(e)).anyMatch(c -> FailingInputStream.MESSAGE.equals(c.getMessage())));

            assertThat(S3TestSupport.multipartUploads(raw, bucket, "mid-fail-" + known + "/")).as("unfinished multipart uploads").isEmpty();
            assertThat(store.stat(key)).isEmpty();
            assertThat(store.list("", null).hasNext()).isFalse();
        }
    }

    @ParameterizedTest(name = "declared {0} MiB, sent 12 MiB")
    @ValueSource(ints = {11, 13})
    void aMultipartBodyOfTheWrongLengthLeavesNoParts(int declaredMib) throws Exception {
        String prefix = "mismatch-" + declaredMib + "/";
        try (S3BlobStore store = store(S3TestSupport.settings(server, bucket).withKeyPrefix(prefix))) {
            BlobKey key = BlobKey.of("big/blob");
            long declared = (long) declaredMib * MIB;

            assertThatThrownBy(() -> store.put(key, SeededBytes.stream(SEED, 12L * MIB), declared, WriteMode.OVERWRITE))
                    .isInstanceOf(UploadLengthMismatchException.class)
                    .hasMessageContaining(key.value());

            assertThat(S3TestSupport.multipartUploads(raw, bucket, prefix)).isEmpty();
            assertThat(store.stat(key)).isEmpty();
        }
    }

    @Test
    void createNewOfALargeBlobOverAnExistingOneFailsAndLeavesNoParts() throws Exception {
        String prefix = "create-new-large/";
        try (S3BlobStore store = store(S3TestSupport.settings(server, bucket).withKeyPrefix(prefix))) {
            BlobKey key = BlobKey.of("blob");
            store.put(key, SeededBytes.stream(SEED, 100), 100, WriteMode.CREATE_NEW);

            assertThatThrownBy(() -> store.put(key, SeededBytes.stream(SEED, 11L * MIB), -1, WriteMode.CREATE_NEW))
                    .isInstanceOf(BlobAlreadyExistsException.class).hasMessageContaining("blob");

            assertThat(store.stat(key)).get().extracting(info -> info.size()).isEqualTo(100L);
            assertThat(S3TestSupport.multipartUploads(raw, bucket, prefix)).isEmpty();
        }
    }

    @Test
    void serverSideEncryptionHeaderIsSentOnEveryWrite() throws Exception {
        List<String> seen = new CopyOnWriteArrayList<>();
        ExecutionInterceptor capture = new ExecutionInterceptor() {
            @Override
            public void beforeTransmission(Context.BeforeTransmission context, ExecutionAttributes attributes) {
                var request = context.httpRequest();
                seen.add(request.method() + " " + (request.rawQueryParameters().containsKey("uploads") ? "create-multipart"
                        : request.rawQueryParameters().containsKey("partNumber") ? "part" : "object")
                        + " sse=" + request.firstMatchingHeader("x-amz-server-side-encryption").orElse("-"));
            }
        };
        S3Settings settings = S3TestSupport.settings(server, bucket).withKeyPrefix("sse/")
                .withEncryption(S3Settings.Encryption.AES256, Optional.empty());
        try (S3BlobStore store = new S3BlobStore(settings, List.of(capture))) {
            store.put(BlobKey.of("small"), SeededBytes.stream(SEED, 1000), 1000, WriteMode.OVERWRITE);
            store.put(BlobKey.of("large"), SeededBytes.stream(SEED, 11L * MIB), 11L * MIB, WriteMode.OVERWRITE);

            assertThat(seen).contains("PUT object sse=AES256", "POST create-multipart sse=AES256");
            try (InputStream in = store.open(BlobKey.of("large"), ByteRange.ALL)) {
                assertThat(SeededBytes.sha256(in)).isEqualTo(SeededBytes.sha256(SEED, 11L * MIB));
            }
        }
    }

    @Test
    void aParallelReadOfABlobReplacedMeanwhileFailsInsteadOfMixingVersions() throws Exception {
        try (S3BlobStore store = store(S3TestSupport.settings(server, bucket).withKeyPrefix("replaced/"))) {
            BlobKey key = BlobKey.of("blob");
            long size = 16L * MIB;
            store.put(key, SeededBytes.stream(SEED, size), size, WriteMode.OVERWRITE);
            List<Throwable> outcome = new ArrayList<>();
            try (InputStream in = store.open(key, ByteRange.ALL)) {
                in.readNBytes(1000);
                store.put(key, SeededBytes.stream(SEED + 1, size), size, WriteMode.OVERWRITE);
                String sha = SeededBytes.sha256(in);
                outcome.add(null);
                // The parts fetched ahead before the replacement may complete the read; then it is the old blob whole.
                assertThat(sha).isNotNull();
            } catch (IOException e) {
                outcome.add(e);
                assertThat(e).hasMessageContaining(key.value()).hasMessageContaining("replaced or deleted");
            }
            assertThat(outcome).hasSize(1);
        }
    }

    @FunctionalInterface
    interface ThrowingCall {
        void run() throws Exception;
    }

    private static List<Throwable> causes(Throwable e) {
        List<Throwable> chain = new ArrayList<>();
        for (Throwable t = e; t != null && !chain.contains(t); t = t.getCause()) {
            chain.add(t);
            chain.addAll(List.of(t.getSuppressed()));
        }
        return chain;
    }

    private static List<String> messages(Throwable e) {
        return causes(e).stream().map(t -> String.valueOf(t.getMessage()) + " " + t).toList();
    }
}
