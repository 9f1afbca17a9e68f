package dev.builderd.storage.server.crash;

import dev.builderd.storage.testing.S3ProxyServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.stream.Stream;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * What a storage backend really holds, read behind the daemon's back: the truth the invariants
 * compare the daemon's answers and its quota ledger with.
 */
sealed interface BackendView extends AutoCloseable {

    /** The daemon's variables that select this backend. */
    Map<String, String> environment();

    /** Every blob whose key starts with {@code prefix}, with its stored size (ciphertext for encrypted tenants). */
    SortedMap<String, Long> blobs(String prefix) throws IOException;

    /** The stored bytes of a blob. */
    byte[] read(String key) throws IOException;

    /** The directory that holds the blob keys, when the backend is a local filesystem ({@code sha256sum -c} runs there). */
    Optional<Path> localRoot();

    @Override
    void close();

    /** Temporary files of uploads (FileBlobStore) and staging files of the disk tier under the data root, with the live daemon's. */
    static List<Path> temporaryFiles(Path dataRoot) throws IOException {
        if (!Files.isDirectory(dataRoot)) {
            return List.of();
        }
        try (Stream<Path> files = Files.walk(dataRoot)) {
            return files.filter(file -> {
                String name = file.getFileName().toString();
                return (name.startsWith(".~builderd-") && name.endsWith(".partial"))
                        || (name.endsWith(".partial") && file.getParent().getFileName().toString().startsWith("staging-"));
            }).toList();
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    /** The filesystem backend: blob keys are paths under the data root. */
    record Filesystem(Path dataRoot) implements BackendView {

        @Override
        public Map<String, String> environment() {
            return Map.of("UNKEY_BUILDERD_STORAGE_BACKEND", "filesystem");
        }

        @Override
        public SortedMap<String, Long> blobs(String prefix) throws IOException {
            SortedMap<String, Long> blobs = new TreeMap<>();
            Path start = dataRoot.resolve(prefix);
            if (!Files.isDirectory(start, LinkOption.NOFOLLOW_LINKS)) {
                return blobs;
            }
            try (Stream<Path> files = Files.walk(start)) {
                for (Path file : (Iterable<Path>) files::iterator) {
                    // Temporary files are not blobs: they are checked by themselves.
                    if (Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS) && !file.getFileName().toString().startsWith(".~builderd-")) {
                        blobs.put(dataRoot.relativize(file).toString(), Files.size(file));
                    }
                }
            } catch (UncheckedIOException e) {
                throw e.getCause();
            }
            return blobs;
        }

        @Override
        public byte[] read(String key) throws IOException {
            return Files.readAllBytes(dataRoot.resolve(key));
        }

        @Override
        public Optional<Path> localRoot() {
            return Optional.of(dataRoot);
        }

        @Override
        public void close() {
        }
    }

    /** An S3 bucket of s3proxy, read with the AWS SDK. */
    record S3(S3ProxyServer server, String bucket, S3Client client) implements BackendView {

        static S3 freshBucket(S3ProxyServer server) {
            S3Client client = S3Client.builder()
                    .endpointOverride(server.endpoint())
                    .region(Region.of(server.region()))
                    .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(server.accessKey(), server.secretKey())))
                    .forcePathStyle(true)
                    .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                    .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                    .build();
            return new S3(server, server.newBucket(), client);
        }

        @Override
        public Map<String, String> environment() {
            URI endpoint = server.endpoint();
            return Map.of("UNKEY_BUILDERD_STORAGE_BACKEND", "s3",
                    "UNKEY_BUILDERD_S3_ENDPOINT", endpoint.toString(),
                    "UNKEY_BUILDERD_S3_BUCKET", bucket,
                    "UNKEY_BUILDERD_S3_REGION", server.region(),
                    "UNKEY_BUILDERD_S3_ACCESS_KEY_ID", server.accessKey(),
                    "UNKEY_BUILDERD_S3_SECRET_ACCESS_KEY", server.secretKey(),
                    // The smallest part S3 allows: the workload's big uploads go up as multipart uploads.
                    "UNKEY_BUILDERD_IO_PART_SIZE_MB", "5");
        }

        @Override
        public SortedMap<String, Long> blobs(String prefix) {
            SortedMap<String, Long> blobs = new TreeMap<>();
            for (S3Object object : client.listObjectsV2Paginator(request -> request.bucket(bucket).prefix(prefix)).contents()) {
                blobs.put(object.key(), object.size());
            }
            return blobs;
        }

        @Override
        public byte[] read(String key) {
            return client.getObjectAsBytes(request -> request.bucket(bucket).key(key)).asByteArray();
        }

        @Override
        public Optional<Path> localRoot() {
            return Optional.empty();
        }

        @Override
        public void close() {
            client.close();
        }
    }
}
