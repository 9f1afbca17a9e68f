package dev.builderd.storage.core.crypto;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * How tenant data is encrypted at rest.
 *
 * @param master where the master key comes from
 * @param keyRotationInterval a tenant's primary key older than this is rotated automatically;
 *     {@link Duration#ZERO} turns automatic rotation off
 */
public record EncryptionConfig(MasterKeyOrigin master, Duration keyRotationInterval) {

    /** Rotation every 90 days unless configured otherwise. */
    public static final Duration DEFAULT_ROTATION = Duration.ofDays(90);

    public EncryptionConfig {
        Objects.requireNonNull(master, "master");
        if (keyRotationInterval.isNegative()) {
            throw new IllegalArgumentException("the key rotation interval cannot be negative");
        }
    }

    /** Where the master key comes from. */
    public sealed interface MasterKeyOrigin {

        /** A keyset file, created on first start when no tenant keyset exists yet. */
        record KeyFile(Path path) implements MasterKeyOrigin {
        }

        /** A key given by the embedding program: an environment value, a KMS key. */
        record Given(MasterKey key) implements MasterKeyOrigin {
        }
    }
}
