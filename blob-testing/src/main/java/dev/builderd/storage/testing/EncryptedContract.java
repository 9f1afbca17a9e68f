package dev.builderd.storage.testing;

import dev.builderd.storage.blob.BlobStore;
import java.util.List;

/**
 * The whole contract again over a backend's store wrapped in
 * {@link dev.builderd.storage.blob.EncryptingBlobStore}: each backend's contract test nests one,
 * so that encryption is shown to work on every backend, with the backend's own set-up, sizes and
 * leftover checks.
 *
 * <pre>{@code
 * @Nested
 * class Encrypted extends EncryptedContract {
 *     protected BlobStoreContract plain() { return S3ProxyContractTest.this; }
 * }
 * }</pre>
 */
public abstract class EncryptedContract extends BlobStoreContract {

    /** The backend's own contract test, whose store is wrapped. */
    protected abstract BlobStoreContract plain();

    @Override
    protected final BlobStore newStore() throws Exception {
        return Encrypted.wrap(plain().newStore());
    }

    @Override
    protected final long largeBlobSize() {
        return plain().largeBlobSize();
    }

    @Override
    protected final List<String> leftovers() throws Exception {
        return plain().leftovers();
    }
}
