package dev.builderd.storage.blob.ceph;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.testing.CephServer;
import java.net.URI;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * The other Ceph route: the RADOS Gateway of {@link CephServer} speaks signed S3 with the user
 * the script creates, to the AWS SDK configured as docs/backends.md says (path style,
 * checksums only when required). The S3 store itself is blob-s3's.
 */
class RgwS3Test {

    private static S3Client client(CephServer ceph, String secret) {
        return S3Client.builder()
                .endpointOverride(URI.create(ceph.rgwEndpoint()))
                .region(Region.US_EAST_1)
                .forcePathStyle(true)
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
                .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create(ceph.accessKey(), secret)))
                .build();
    }

    @Test
    void theTestUserCanCreateABucketAndRoundTripAnObject() {
        CephServer ceph = CephServer.shared();
        String bucket = ceph.newBucketName();
        try (S3Client s3 = client(ceph, ceph.secretKey())) {
            s3.createBucket(b -> b.bucket(bucket));
            s3.putObject(b -> b.bucket(bucket).key("dir/plus+ünï code"), RequestBody.fromString("hello rgw"));

            assertThat(s3.getObjectAsBytes(b -> b.bucket(bucket).key("dir/plus+ünï code")).asUtf8String()).isEqualTo("hello rgw");
            assertThat(s3.listObjectsV2(b -> b.bucket(bucket)).contents()).extracting(S3Object::key)
                    .containsExactly("dir/plus+ünï code");
            s3.deleteObject(b -> b.bucket(bucket).key("dir/plus+ünï code"));
            s3.deleteBucket(b -> b.bucket(bucket));
        }
    }

    @Test
    void aWrongSecretIsRefused() {
        CephServer ceph = CephServer.shared();
        try (S3Client s3 = client(ceph, "not-" + ceph.secretKey())) {
            assertThatThrownBy(() -> s3.listBuckets()).isInstanceOf(S3Exception.class)
                    .satisfies(e -> assertThat(((S3Exception) e).statusCode()).isEqualTo(403));
        }
    }
}
