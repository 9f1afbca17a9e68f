package dev.builderd.storage.blob.gcs;

import com.google.cloud.storage.contrib.nio.testing.LocalStorageHelper;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.testing.BlobStoreContract;
import org.junit.jupiter.api.DisplayName;

@DisplayName("GCS store on the SDK's in-process fake (no GCS server can run here)")
final class GcsInProcessFakeContractTest extends BlobStoreContract {

    @Override
    protected BlobStore newStore() {
        return GcsBlobStore.using(LocalStorageHelper.getOptions().getService(), GcsSettings.of("fake-bucket"));
    }
}
