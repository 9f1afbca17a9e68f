package dev.builderd.storage.core.crypto;

import com.google.crypto.tink.Aead;

/**
 * The key that wraps every tenant keyset. The default is a Tink keyset file
 * ({@link MasterKeyFile}); a fixed keyset from the environment ({@link FixedMasterKey}) or a key
 * held by a KMS (an {@link Aead} from Tink's {@code KmsClient} for AWS KMS, GCP KMS or Vault
 * transit) fit the same interface.
 *
 * <p>Implementations never show key material in {@link #toString()}, {@link #origin()} or
 * exception messages.
 */
public interface MasterKey {

    /** Wraps with the current primary key; unwraps with any key the master still holds. */
    Aead aead();

    /** Where the key comes from, for messages and logs (a path, a variable name, a KMS URI). */
    String origin();

    /**
     * A master key that builderd itself can rotate: it adds a new primary key, tenant keysets are
     * rewrapped with it, and the older keys are then removed. Between those steps every keyset,
     * wrapped with either key, stays readable.
     */
    interface Rotatable extends MasterKey {

        /** Makes a new key the primary, keeping the older ones for unwrapping; durable when it returns. */
        void addPrimaryKey() throws java.io.IOException;

        /** Removes every key but the primary; call only once every keyset is wrapped with the primary. */
        void removeOlderKeys() throws java.io.IOException;

        /** How many keys it holds (more than one: a rotation has not finished). */
        int keyCount();
    }
}
