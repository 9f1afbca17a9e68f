package dev.builderd.storage.testing;

import com.google.crypto.tink.KeysetHandle;
import com.google.crypto.tink.streamingaead.StreamingAeadConfig;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.DataKeyring;
import dev.builderd.storage.blob.EncryptingBlobStore;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Optional;

/** Wraps a backend's store in {@link EncryptingBlobStore} with fresh keys, so a backend's contract test can run encrypted. */
public final class Encrypted {

    private Encrypted() {
    }

    /** {@code store} with every blob encrypted under one fresh keyring. */
    public static BlobStore wrap(BlobStore store) {
        try {
            StreamingAeadConfig.register();
            KeysetHandle keyset = KeysetHandle.newBuilder()
                    .addEntry(KeysetHandle.generateEntryFromParameters(EncryptingBlobStore.KEY_PARAMETERS).withRandomId().makePrimary())
                    .build();
            byte[] marker = new byte[DataKeyring.MARKER_SIZE];
            new SecureRandom().nextBytes(marker);
            DataKeyring keyring = new DataKeyring(marker, keyset, false);
            return new EncryptingBlobStore(store, key -> Optional.of(keyring));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(e);
        }
    }
}
