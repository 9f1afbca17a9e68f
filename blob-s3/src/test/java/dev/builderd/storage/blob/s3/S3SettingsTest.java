package dev.builderd.storage.blob.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

final class S3SettingsTest {

    private static final S3Settings VALID = S3Settings.compatible(URI.create("http://127.0.0.1:9000"), "builds", "AKID", "s3cr3t-value");

    @Test
    void toStringHidesTheSecret() {
        assertThat(VALID.toString()).contains("AKID", "builds", "http://127.0.0.1:9000").doesNotContain("s3cr3t-value");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "ab", "Upper", "under_score", "-start", "end-", "a..b"})
    void badBucketNamesAreRefused(String bucket) {
        assertThatThrownBy(() -> VALID.withBucket(bucket)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("bucket");
    }

    @ParameterizedTest
    @ValueSource(strings = {"ftp://host", "http://host/path", "http:///nohost", "http://user:pw@host"})
    void badEndpointsAreRefused(String endpoint) {
        assertThatThrownBy(() -> VALID.withEndpoint(URI.create(endpoint), true))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("endpoint")
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("pw@"));
    }

    @Test
    void kmsKeyNeedsKmsEncryption() {
        assertThatThrownBy(() -> VALID.withEncryption(S3Settings.Encryption.AES256, Optional.of("key-1")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("aws:kms");
        assertThat(VALID.withEncryption(S3Settings.Encryption.AWS_KMS, Optional.of("key-1")).kmsKeyId()).contains("key-1");
    }

    @Test
    void encryptionParsesTheSpecsSpelling() {
        assertThat(S3Settings.Encryption.parse("AES256")).isEqualTo(S3Settings.Encryption.AES256);
        assertThat(S3Settings.Encryption.parse("aws:kms")).isEqualTo(S3Settings.Encryption.AWS_KMS);
        assertThat(S3Settings.Encryption.parse("")).isEqualTo(S3Settings.Encryption.NONE);
        assertThatThrownBy(() -> S3Settings.Encryption.parse("rot13")).hasMessageContaining("AES256");
    }

    @Test
    void missingSecretIsNamedWithoutPrintingAnything() {
        assertThatThrownBy(() -> VALID.withCredentials("AKID", "")).hasMessageContaining("secret");
        assertThatThrownBy(() -> VALID.withCredentials(" ", "x")).hasMessageContaining("access key id");
    }

    @ParameterizedTest
    @ValueSource(strings = {"no-slash", "/abs/", "a//b/"})
    void badKeyPrefixesAreRefused(String prefix) {
        assertThatThrownBy(() -> VALID.withKeyPrefix(prefix)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("prefix");
    }
}
