package dev.builderd.storage.blob.s3;

import dev.builderd.storage.blob.ParallelIo;
import dev.builderd.storage.blob.RemoteTimeouts;
import dev.builderd.storage.blob.StorageTls;
import dev.builderd.storage.testing.S3ProxyServer;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.http.apache5.Apache5HttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

/** Settings and a raw SDK client for tests against {@link S3ProxyServer}. */
final class S3TestSupport {

    /** 5 MiB parts (the S3 minimum), 3 workers: small blobs still go multipart. */
    static final ParallelIo SMALL_PARTS = new ParallelIo(3, ParallelIo.MIN_PART_SIZE, 1 << 20);

    private S3TestSupport() {
    }

    static S3Settings settings(S3ProxyServer server, String bucket) {
        return settings(server.endpoint(), server.region(), server.accessKey(), server.secretKey(), bucket)
                .withTls(server.caPem().map(ca -> new StorageTls(Optional.of(ca), Optional.empty(), Optional.empty()))
                        .orElse(StorageTls.platformDefaults()));
    }

    /** Path-style settings for any S3-compatible test server, with {@link #SMALL_PARTS}. */
    static S3Settings settings(URI endpoint, String region, String accessKey, String secretKey, String bucket) {
        return new S3Settings(bucket, region, Optional.of(endpoint), true, accessKey, secretKey, S3Settings.Encryption.NONE,
                Optional.empty(), SMALL_PARTS, new RemoteTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(30), 3),
                StorageTls.platformDefaults(), "");
    }

    /** A plain SDK client on the plain-HTTP server, to look behind the store's back. */
    static S3Client rawClient(S3ProxyServer server) {
        return rawClient(server.endpoint(), server.region(), server.accessKey(), server.secretKey());
    }

    /** A plain SDK client on any S3-compatible test server over plain HTTP. */
    static S3Client rawClient(URI endpoint, String region, String accessKey, String secretKey) {
        return S3Client.builder()
                .httpClient(Apache5HttpClient.create())
                .region(Region.of(region))
                .endpointOverride(endpoint)
                .forcePathStyle(true)
                .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(accessKey, secretKey)))
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .build();
    }

    /** Unfinished multipart uploads under {@code prefix}, as "key (upload id)". */
    static List<String> multipartUploads(S3Client raw, String bucket, String prefix) {
        return raw.listMultipartUploads(b -> b.bucket(bucket).prefix(prefix)).uploads().stream()
                .map(u -> u.key() + " (upload " + u.uploadId() + ")")
                .toList();
    }
}
