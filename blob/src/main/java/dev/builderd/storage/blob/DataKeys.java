package dev.builderd.storage.blob;

import com.google.crypto.tink.StreamingAead;
import java.io.IOException;

/**
 * Gives the {@link StreamingAead} primitive for a key's owner. The caller maps keys to tenants and
 * tenants to keysets; {@link EncryptingBlobStore} does not know tenants.
 *
 * <p>The primitive must come from an AES256_GCM_HKDF_1MB keyset (every key in it), because
 * {@link EncryptingBlobStore} converts between plaintext and ciphertext sizes with that format's
 * segment, header and tag sizes.
 */
@FunctionalInterface
public interface DataKeys {

    /** The primitive that encrypts and decrypts the blob under {@code key}; never null. */
    StreamingAead forKey(BlobKey key) throws IOException;
}
