package dev.builderd.storage.blob;

import java.io.IOException;
import java.util.Optional;

/**
 * Gives the data keys of a blob's owner. The caller maps keys to tenants and tenants to keysets;
 * {@link EncryptingBlobStore} does not know tenants.
 */
@FunctionalInterface
public interface DataKeys {

    /**
     * The keyring of the owner of the blob under {@code key}, or empty when that owner's blobs are
     * stored as plaintext.
     *
     * @throws IOException if the owner has keys that cannot be loaded (the store then neither
     *     reads nor writes its blobs, rather than fall back to plaintext)
     */
    Optional<DataKeyring> forKey(BlobKey key) throws IOException;
}
