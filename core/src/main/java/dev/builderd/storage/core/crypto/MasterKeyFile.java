package dev.builderd.storage.core.crypto;

import com.google.crypto.tink.Aead;
import com.google.crypto.tink.InsecureSecretKeyAccess;
import com.google.crypto.tink.KeysetHandle;
import com.google.crypto.tink.RegistryConfiguration;
import com.google.crypto.tink.TinkJsonProtoKeysetFormat;
import com.google.crypto.tink.aead.AeadConfig;
import com.google.crypto.tink.aead.PredefinedAeadParameters;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.security.GeneralSecurityException;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The master key as a Tink AES256_GCM keyset in a JSON file, mode 0600. Builderd creates it on
 * first start, but only when no tenant keyset exists that an earlier master key wrapped (see
 * {@link #openOrCreate}); it rotates it by adding a new primary and, once every tenant keyset is
 * rewrapped, removing the older keys. Every change replaces the file atomically.
 */
public final class MasterKeyFile implements MasterKey.Rotatable {

    private static final Logger LOG = LoggerFactory.getLogger(MasterKeyFile.class);

    private final Path file;
    private volatile KeysetHandle keyset;
    private volatile Aead aead;

    private MasterKeyFile(Path file, KeysetHandle keyset) throws GeneralSecurityException {
        this.file = file;
        use(keyset);
    }

    /**
     * Opens the master key file, or creates it if it is missing and {@code mayCreate}.
     *
     * @param mayCreate false when keysets wrapped by an earlier master key exist: a missing file
     *     is then an error, never replaced by a new key that could not open them
     * @throws IllegalStateException with a message for the operator when the file is missing
     *     (and may not be created), unreadable or not an AEAD keyset
     */
    public static MasterKeyFile openOrCreate(Path file, boolean mayCreate) throws IOException {
        try {
            AeadConfig.register();
            if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
                if (!mayCreate) {
                    throw new IllegalStateException("the master key " + file + " is missing, but tenant keysets wrapped by a"
                            + " master key exist (in the metadata store); restore the master key file (from your backup of it) or point"
                            + " UNKEY_BUILDERD_MASTER_KEY_FILE at it. builderd never creates a new master key over existing keysets.");
                }
                KeysetHandle created = KeysetHandle.newBuilder()
                        .addEntry(KeysetHandle.generateEntryFromParameters(PredefinedAeadParameters.AES256_GCM).withRandomId().makePrimary())
                        .build();
                KeyFiles.write(file, serialize(created));
                LOG.info("created a new master key at {} (mode 0600); back it up: without it no tenant data can be read", file);
                return new MasterKeyFile(file, created);
            }
            warnIfReadableByOthers(file);
            String json = Files.readString(file, StandardCharsets.UTF_8);
            KeysetHandle keyset;
            try {
                keyset = TinkJsonProtoKeysetFormat.parseKeyset(json, InsecureSecretKeyAccess.get());
                return new MasterKeyFile(file, keyset);
            } catch (GeneralSecurityException | RuntimeException e) {
                throw new IllegalStateException("the master key " + file + " is not a Tink AEAD keyset in JSON (damaged or"
                        + " not a master key); restore it from your backup");
            }
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot create a master key: " + e.getMessage(), e);
        }
    }

    private static void warnIfReadableByOthers(Path file) throws IOException {
        Set<PosixFilePermission> permissions = Files.getPosixFilePermissions(file, LinkOption.NOFOLLOW_LINKS);
        if (permissions.stream().anyMatch(p -> p.name().startsWith("GROUP") || p.name().startsWith("OTHERS"))) {
            LOG.warn("the master key {} is accessible to other users ({}); chmod 600 it", file,
                    java.nio.file.attribute.PosixFilePermissions.toString(permissions));
        }
    }

    private static byte[] serialize(KeysetHandle keyset) throws GeneralSecurityException {
        return TinkJsonProtoKeysetFormat.serializeKeyset(keyset, InsecureSecretKeyAccess.get()).getBytes(StandardCharsets.UTF_8);
    }

    private void use(KeysetHandle next) throws GeneralSecurityException {
        Aead primitive = next.getPrimitive(RegistryConfiguration.get(), Aead.class);
        this.keyset = next;
        this.aead = primitive;
    }

    @Override
    public Aead aead() {
        return aead;
    }

    @Override
    public String origin() {
        return file.toString();
    }

    @Override
    public synchronized void addPrimaryKey() throws IOException {
        try {
            KeysetHandle next = KeysetHandle.newBuilder(keyset)
                    .addEntry(KeysetHandle.generateEntryFromParameters(PredefinedAeadParameters.AES256_GCM).withRandomId().makePrimary())
                    .build();
            KeyFiles.write(file, serialize(next));
            use(next);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot add a key to the master key " + file, e);
        }
    }

    @Override
    public synchronized void removeOlderKeys() throws IOException {
        try {
            KeysetHandle.Entry primary = keyset.getPrimary();
            KeysetHandle next = KeysetHandle.newBuilder()
                    .addEntry(KeysetHandle.importKey(primary.getKey()).withFixedId(primary.getId()).makePrimary())
                    .build();
            KeyFiles.write(file, serialize(next));
            use(next);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot remove the older keys of the master key " + file, e);
        }
    }

    @Override
    public int keyCount() {
        return keyset.size();
    }

    @Override
    public String toString() {
        return "MasterKeyFile[" + file + "]";
    }
}
