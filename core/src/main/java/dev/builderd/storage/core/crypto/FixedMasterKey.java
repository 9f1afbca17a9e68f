package dev.builderd.storage.core.crypto;

import com.google.crypto.tink.Aead;
import com.google.crypto.tink.InsecureSecretKeyAccess;
import com.google.crypto.tink.KeysetHandle;
import com.google.crypto.tink.RegistryConfiguration;
import com.google.crypto.tink.TinkJsonProtoKeysetFormat;
import com.google.crypto.tink.aead.AeadConfig;
import java.security.GeneralSecurityException;

/**
 * A master key that builderd reads but never changes: a Tink AEAD keyset in JSON supplied by the
 * operator (from an environment variable, say). To rotate it, the operator supplies a keyset with
 * a new primary that still holds the old key, asks builderd to rewrap the tenant keysets, then
 * drops the old key.
 */
public final class FixedMasterKey implements MasterKey {

    private final Aead aead;
    private final String origin;

    private FixedMasterKey(Aead aead, String origin) {
        this.aead = aead;
        this.origin = origin;
    }

    /**
     * Parses a cleartext Tink JSON keyset of AEAD keys.
     *
     * @param origin where it came from (a variable name), used in messages
     * @throws IllegalArgumentException naming {@code origin} if it is not such a keyset (the
     *     message never repeats the text)
     */
    public static FixedMasterKey fromJson(String keysetJson, String origin) {
        try {
            AeadConfig.register();
            KeysetHandle keyset = TinkJsonProtoKeysetFormat.parseKeyset(keysetJson, InsecureSecretKeyAccess.get());
            return new FixedMasterKey(keyset.getPrimitive(RegistryConfiguration.get(), Aead.class), origin);
        } catch (GeneralSecurityException | RuntimeException e) {
            throw new IllegalArgumentException(origin + " is not a Tink AEAD keyset in JSON (as written by"
                    + " `tinkey create-keyset --key-template AES256_GCM --out-format json`)");
        }
    }

    @Override
    public Aead aead() {
        return aead;
    }

    @Override
    public String origin() {
        return origin;
    }

    @Override
    public String toString() {
        return "FixedMasterKey[" + origin + "]";
    }
}
