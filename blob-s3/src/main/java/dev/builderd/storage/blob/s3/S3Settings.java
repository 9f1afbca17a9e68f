package dev.builderd.storage.blob.s3;

import dev.builderd.storage.blob.ParallelIo;
import dev.builderd.storage.blob.RemoteTimeouts;
import dev.builderd.storage.blob.StorageTls;
import java.net.URI;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Everything {@link S3BlobStore} needs to reach one bucket of AWS S3 or an S3-compatible server
 * (MinIO, Ceph RADOS Gateway, s3proxy, GCS's interoperability API).
 *
 * @param bucket the bucket, which must exist (3 to 63 characters: lower-case letters, digits,
 *     {@code .} and {@code -})
 * @param region the signing region, such as {@code us-east-1} (S3-compatible servers usually accept
 *     any; {@code us-east-1} is customary)
 * @param endpoint an endpoint override ({@code http://} or {@code https://} with a host, no path),
 *     for S3-compatible servers; empty for AWS itself
 * @param pathStyle {@code http://host/bucket/key} instead of {@code http://bucket.host/key};
 *     needed by most S3-compatible servers
 * @param accessKeyId the access key id
 * @param secretAccessKey the secret key; never shown by {@link #toString()}
 * @param encryption server-side encryption requested on every write
 * @param kmsKeyId the KMS key for {@link Encryption#AWS_KMS}; empty for the account's default
 *     key; must be empty for the other modes
 * @param parallelIo part size and workers of multipart uploads and parallel ranged downloads
 * @param timeouts connect and request timeouts and the retry budget
 * @param tls the CA to trust and the client certificate to present over {@code https}
 * @param keyPrefix a prefix put before every key inside the bucket ({@code builderd/} say), so
 *     several stores can share a bucket; empty for none; must end with {@code /} when given
 */
public record S3Settings(
        String bucket,
        String region,
        Optional<URI> endpoint,
        boolean pathStyle,
        String accessKeyId,
        String secretAccessKey,
        Encryption encryption,
        Optional<String> kmsKeyId,
        ParallelIo parallelIo,
        RemoteTimeouts timeouts,
        StorageTls tls,
        String keyPrefix) {

    /** Server-side encryption of stored objects. */
    public enum Encryption {
        /** No encryption header (the bucket's default encryption, if any, still applies). */
        NONE("none"),
        /** SSE-S3: {@code x-amz-server-side-encryption: AES256}. */
        AES256("AES256"),
        /** SSE-KMS: {@code x-amz-server-side-encryption: aws:kms}, optionally with a key id. */
        AWS_KMS("aws:kms");

        private final String headerValue;

        Encryption(String headerValue) {
            this.headerValue = headerValue;
        }

        /** The value as the S3 API and the configuration spell it: {@code none}, {@code AES256}, {@code aws:kms}. */
        public String headerValue() {
            return headerValue;
        }

        /** Parses {@code none}/empty, {@code AES256} or {@code aws:kms} (case-insensitive). */
        public static Encryption parse(String value) {
            if (value == null || value.isBlank()) {
                return NONE;
            }
            for (Encryption e : values()) {
                if (e.headerValue.equalsIgnoreCase(value.strip())) {
                    return e;
                }
            }
            throw new IllegalArgumentException("S3 server-side encryption must be none, AES256 or aws:kms, was '" + value + "'");
        }
    }

    private static final Pattern BUCKET = Pattern.compile("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]");
    private static final Pattern REGION = Pattern.compile("[a-z0-9][a-z0-9-]{0,62}");

    public S3Settings {
        Objects.requireNonNull(endpoint, "endpoint (use Optional.empty())");
        Objects.requireNonNull(kmsKeyId, "kmsKeyId (use Optional.empty())");
        Objects.requireNonNull(encryption, "encryption (use Encryption.NONE)");
        Objects.requireNonNull(parallelIo, "parallelIo");
        Objects.requireNonNull(timeouts, "timeouts");
        Objects.requireNonNull(tls, "tls");
        if (bucket == null || !BUCKET.matcher(bucket).matches() || bucket.contains("..")) {
            throw new IllegalArgumentException("S3 bucket name must be 3 to 63 lower-case letters, digits, '.' or '-',"
                    + " starting and ending with a letter or digit; was '" + bucket + "'");
        }
        if (region == null || !REGION.matcher(region).matches()) {
            throw new IllegalArgumentException("S3 region must be a region name such as us-east-1, was '" + region + "'");
        }
        endpoint.ifPresent(S3Settings::checkEndpoint);
        if (accessKeyId == null || accessKeyId.isBlank()) {
            throw new IllegalArgumentException("S3 access key id is missing");
        }
        if (secretAccessKey == null || secretAccessKey.isEmpty()) {
            throw new IllegalArgumentException("S3 secret access key is missing (for access key id " + accessKeyId + ")");
        }
        if (kmsKeyId.isPresent()) {
            if (encryption != Encryption.AWS_KMS) {
                throw new IllegalArgumentException("a KMS key id is only meaningful with aws:kms server-side encryption, not "
                        + encryption.headerValue());
            }
            if (kmsKeyId.get().isBlank()) {
                throw new IllegalArgumentException("the KMS key id is blank; leave it out to use the account's default key");
            }
        }
        keyPrefix = keyPrefix == null ? "" : keyPrefix;
        if (!keyPrefix.isEmpty()) {
            if (!keyPrefix.endsWith("/") || keyPrefix.startsWith("/") || keyPrefix.contains("//")
                    || keyPrefix.contains("\\") || keyPrefix.chars().anyMatch(Character::isISOControl)) {
                throw new IllegalArgumentException("S3 key prefix must be relative, end with '/', and contain no '//',"
                        + " backslash or control character; was '" + keyPrefix + "'");
            }
            if (keyPrefix.length() > 100) {
                throw new IllegalArgumentException("S3 key prefix must be at most 100 characters, was " + keyPrefix.length());
            }
        }
    }

    private static void checkEndpoint(URI uri) {
        String scheme = uri.getScheme();
        if (scheme == null || !(scheme.equalsIgnoreCase("http") || scheme.equalsIgnoreCase("https"))) {
            throw new IllegalArgumentException("S3 endpoint must start with http:// or https://, was '" + uri + "'");
        }
        if (uri.getHost() == null || uri.getHost().isEmpty()) {
            throw new IllegalArgumentException("S3 endpoint has no host: '" + uri + "'");
        }
        if (uri.getRawPath() != null && !uri.getRawPath().isEmpty() && !uri.getRawPath().equals("/")) {
            throw new IllegalArgumentException("S3 endpoint must have no path (the bucket is a separate setting): '" + uri + "'");
        }
        if (uri.getRawQuery() != null || uri.getRawFragment() != null || uri.getRawUserInfo() != null) {
            throw new IllegalArgumentException("S3 endpoint must have no user info, query or fragment: '" + uri.getHost() + "'");
        }
    }

    /**
     * Settings for an S3-compatible server (MinIO, Ceph RGW, s3proxy): the given endpoint, path-style
     * access, region {@code us-east-1}, no encryption, default parallelism, timeouts and TLS, no prefix.
     */
    public static S3Settings compatible(URI endpoint, String bucket, String accessKeyId, String secretAccessKey) {
        return new S3Settings(bucket, "us-east-1", Optional.of(endpoint), true, accessKeyId, secretAccessKey,
                Encryption.NONE, Optional.empty(), ParallelIo.defaults(), RemoteTimeouts.defaults(),
                StorageTls.platformDefaults(), "");
    }

    /** Settings for AWS S3 itself: virtual-host style, the region's endpoint, defaults elsewhere. */
    public static S3Settings aws(String bucket, String region, String accessKeyId, String secretAccessKey, Encryption encryption) {
        return new S3Settings(bucket, region, Optional.empty(), false, accessKeyId, secretAccessKey,
                encryption, Optional.empty(), ParallelIo.defaults(), RemoteTimeouts.defaults(),
                StorageTls.platformDefaults(), "");
    }

    public S3Settings withEndpoint(URI newEndpoint, boolean newPathStyle) {
        return new S3Settings(bucket, region, Optional.of(newEndpoint), newPathStyle, accessKeyId, secretAccessKey,
                encryption, kmsKeyId, parallelIo, timeouts, tls, keyPrefix);
    }

    public S3Settings withBucket(String newBucket) {
        return new S3Settings(newBucket, region, endpoint, pathStyle, accessKeyId, secretAccessKey,
                encryption, kmsKeyId, parallelIo, timeouts, tls, keyPrefix);
    }

    public S3Settings withCredentials(String newAccessKeyId, String newSecretAccessKey) {
        return new S3Settings(bucket, region, endpoint, pathStyle, newAccessKeyId, newSecretAccessKey,
                encryption, kmsKeyId, parallelIo, timeouts, tls, keyPrefix);
    }

    public S3Settings withEncryption(Encryption newEncryption, Optional<String> newKmsKeyId) {
        return new S3Settings(bucket, region, endpoint, pathStyle, accessKeyId, secretAccessKey,
                newEncryption, newKmsKeyId, parallelIo, timeouts, tls, keyPrefix);
    }

    public S3Settings withParallelIo(ParallelIo newParallelIo) {
        return new S3Settings(bucket, region, endpoint, pathStyle, accessKeyId, secretAccessKey,
                encryption, kmsKeyId, newParallelIo, timeouts, tls, keyPrefix);
    }

    public S3Settings withTimeouts(RemoteTimeouts newTimeouts) {
        return new S3Settings(bucket, region, endpoint, pathStyle, accessKeyId, secretAccessKey,
                encryption, kmsKeyId, parallelIo, newTimeouts, tls, keyPrefix);
    }

    public S3Settings withTls(StorageTls newTls) {
        return new S3Settings(bucket, region, endpoint, pathStyle, accessKeyId, secretAccessKey,
                encryption, kmsKeyId, parallelIo, timeouts, newTls, keyPrefix);
    }

    public S3Settings withKeyPrefix(String newKeyPrefix) {
        return new S3Settings(bucket, region, endpoint, pathStyle, accessKeyId, secretAccessKey,
                encryption, kmsKeyId, parallelIo, timeouts, tls, newKeyPrefix);
    }

    /** Where requests go, for messages: the endpoint override or {@code AWS S3 (region)}. */
    public String describeEndpoint() {
        return endpoint.map(URI::toString).orElse("AWS S3 (" + region + ")");
    }

    /** All settings except the secret key, which is shown as {@code ***}. */
    @Override
    public String toString() {
        return "S3Settings[bucket=" + bucket + ", region=" + region + ", endpoint=" + endpoint.map(URI::toString).orElse("(AWS)")
                + ", pathStyle=" + pathStyle + ", accessKeyId=" + accessKeyId + ", secretAccessKey=***"
                + ", encryption=" + encryption.headerValue() + kmsKeyId.map(k -> " (key " + k + ")").orElse("")
                + ", parallelIo=" + parallelIo + ", timeouts=" + timeouts + ", tls=" + tls + ", keyPrefix=" + keyPrefix + "]";
    }
}
