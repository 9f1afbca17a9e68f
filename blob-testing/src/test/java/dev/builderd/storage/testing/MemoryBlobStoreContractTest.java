package dev.builderd.storage.testing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.MemoryBlobStore;
import org.junit.jupiter.api.Test;

/** {@link MemoryBlobStore} against the whole {@link BlobStoreContract}. */
final class MemoryBlobStoreContractTest extends BlobStoreContract {

    @Override
    protected BlobStore newStore() {
        return new MemoryBlobStore();
    }

    @Test
    void isNamedMemory() {
        assertThat(store.backendName()).isEqualTo("memory");
    }
}
