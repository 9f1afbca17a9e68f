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

    /**
     * The keyring a new blob under {@code key} is encrypted with. An implementation whose keys
     * can change elsewhere (another node rotated or destroyed them) answers from their current
     * version, so that no write uses an older primary key or destroyed keys; by default {@link #forKey}.
     */
    default Optional<DataKeyring> forWriting(BlobKey key) throws IOException {
        return forKey(key);
    }

    /**
     * The keyring again, after a blob under {@code key} was found encrypted under a key that the
     * one {@link #forKey} gave does not hold: an implementation whose keys can change elsewhere
     * (a rotation on another node) loads them again; by default {@link #forKey}.
     */
    default Optional<DataKeyring> reloaded(BlobKey key) throws IOException {
        return forKey(key);
    }
}
