package dev.builderd.storage.core.crypto;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.crypto.tink.KeysetHandle;
import com.google.crypto.tink.TinkJsonProtoKeysetFormat;
import com.google.crypto.tink.aead.AeadConfig;
import com.google.crypto.tink.streamingaead.StreamingAeadConfig;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.DataKeyring;
import dev.builderd.storage.blob.DataKeys;
import dev.builderd.storage.blob.EncryptingBlobStore;
import dev.builderd.storage.core.model.TenantId;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every tenant's data keys, one file per tenant at {@code {dir}/{tenant}.key}: a Tink streaming
 * AEAD keyset wrapped by the {@link MasterKey} with the tenant ID as associated data (a file
 * copied to another tenant's name does not open), plus the tenant's blob marker, when its primary
 * key was made, and whether plaintext blobs from before it had keys may still exist.
 *
 * <p>A tenant without a file stores plaintext; a tenant that must be encrypted but whose file is
 * missing, damaged or shredded has {@link KeysUnavailableException unavailable} keys, and none of
 * its blobs are read or written. Files change only through this class, atomically; a purge
 * leaves a {@code {tenant}.shredded} tombstone until the tenant's data is gone.
 */
public final class TenantKeys implements DataKeys {

    private static final Logger LOG = LoggerFactory.getLogger(TenantKeys.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String FORMAT = "builderd-tenant-keyset/1";
    private static final String KEY_SUFFIX = ".key";
    private static final String SHREDDED_SUFFIX = ".shredded";
    /** The file name of the default master key in the same directory. */
    public static final String MASTER_KEY_FILE = "master.key";
    private static final SecureRandom RANDOM = new SecureRandom();

    /** A tenant's key file as stored. */
    private record KeyFile(String format, String tenant, String marker, long primarySinceEpochMs,
            boolean acceptsPlaintext, String keyset) {
    }

    /** What is known of a tenant's keys. */
    private sealed interface State {
        record Active(KeysetHandle keyset, byte[] marker, Instant primarySince, boolean acceptsPlaintext, DataKeyring ring)
                implements State {
        }

        record Unavailable(String reason) implements State {
        }
    }

    /** A tenant's keys as the status shows them: no key material. */
    public record KeyStatus(int keys, String primaryKeyId, Instant primarySince, boolean acceptsPlaintext) {
    }

    private final Path directory;
    private final MasterKey master;
    private final Clock clock;
    private final Map<TenantId, State> states = new ConcurrentHashMap<>();

    private TenantKeys(Path directory, MasterKey master, Clock clock) {
        this.directory = directory;
        this.master = master;
        this.clock = clock;
    }

    /** Whether {@code directory} holds tenant keysets (or tombstones) that a master key wrapped. */
    public static boolean holdsKeysets(Path directory) throws IOException {
        if (!Files.isDirectory(directory)) {
            return false;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(directory, "*" + KEY_SUFFIX)) {
            for (Path file : files) {
                if (!file.getFileName().toString().equals(MASTER_KEY_FILE)) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * Loads every tenant keyset in {@code directory}.
     *
     * @param encryptedTenants the tenants whose data must be encrypted (from the metadata); one
     *     without a keyset file gets unavailable keys rather than plaintext
     * @throws IllegalStateException with a message for the operator when {@code master} opens
     *     none of the keysets: it is not the master key that wrapped them
     */
    public static TenantKeys load(Path directory, MasterKey master, Set<TenantId> encryptedTenants, Clock clock)
            throws IOException {
        register();
        TenantKeys keys = new TenantKeys(directory, master, clock);
        Files.createDirectories(directory);
        int opened = 0;
        List<String> unopened = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(directory)) {
            for (Path file : files) {
                String name = file.getFileName().toString();
                if (name.equals(MASTER_KEY_FILE) || name.startsWith(".")) {
                    continue;
                }
                if (name.endsWith(SHREDDED_SUFFIX)) {
                    tenantOf(name, SHREDDED_SUFFIX).ifPresent(tenant -> keys.states.put(tenant,
                            new State.Unavailable("they were destroyed when the tenant was purged; finish the purge")));
                    continue;
                }
                Optional<TenantId> tenant = tenantOf(name, KEY_SUFFIX);
                if (tenant.isEmpty()) {
                    continue;
                }
                if (keys.states.containsKey(tenant.get())) {
                    continue;
                }
                try {
                    keys.states.put(tenant.get(), keys.read(tenant.get()));
                    opened++;
                } catch (GeneralSecurityException e) {
                    unopened.add(name);
                    keys.states.put(tenant.get(), new State.Unavailable("the keyset file " + file + " does not open with the"
                            + " master key (" + master.origin() + "): it is damaged, belongs to another tenant, or was wrapped"
                            + " by another master key; restore it from a backup"));
                } catch (IOException | RuntimeException e) {
                    unopened.add(name);
                    keys.states.put(tenant.get(), new State.Unavailable("the keyset file " + file + " cannot be read ("
                            + e.getMessage() + "); restore it from a backup"));
                }
            }
        }
        if (opened == 0 && !unopened.isEmpty()) {
            throw new IllegalStateException("the master key (" + master.origin() + ") opens none of the " + unopened.size()
                    + " tenant keysets in " + directory + ": it is not the master key that wrapped them. Restore the right"
                    + " master key; builderd never replaces one.");
        }
        for (String name : unopened) {
            LOG.error("tenant keyset {} in {} cannot be opened; that tenant's data is unavailable until it is restored", name, directory);
        }
        for (TenantId tenant : encryptedTenants) {
            if (keys.states.putIfAbsent(tenant, new State.Unavailable("its keyset file " + keys.fileOf(tenant)
                    + " is missing; restore it from a backup")) == null) {
                LOG.error("tenant {} is encrypted but its keyset {} is missing; its data is unavailable until it is restored",
                        tenant, keys.fileOf(tenant));
            }
        }
        return keys;
    }

    private static void register() throws IOException {
        try {
            AeadConfig.register();
            StreamingAeadConfig.register();
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot register Tink's primitives", e);
        }
    }

    private static Optional<TenantId> tenantOf(String fileName, String suffix) {
        if (!fileName.endsWith(suffix)) {
            return Optional.empty();
        }
        try {
            return Optional.of(TenantId.of(fileName.substring(0, fileName.length() - suffix.length())));
        } catch (RuntimeException notATenant) {
            return Optional.empty();
        }
    }

    private Path fileOf(TenantId tenant) {
        return directory.resolve(tenant.value() + KEY_SUFFIX);
    }

    private Path tombstoneOf(TenantId tenant) {
        return directory.resolve(tenant.value() + SHREDDED_SUFFIX);
    }

    private static byte[] associatedData(TenantId tenant) {
        return tenant.value().getBytes(StandardCharsets.UTF_8);
    }

    private State.Active read(TenantId tenant) throws IOException, GeneralSecurityException {
        return parse(tenant, Files.readAllBytes(fileOf(tenant)));
    }

    /** Opens a key file's bytes: the keyset must be the tenant's, wrapped by the master key. */
    private State.Active parse(TenantId tenant, byte[] bytes) throws IOException, GeneralSecurityException {
        KeyFile file = JSON.readValue(bytes, KeyFile.class);
        if (!FORMAT.equals(file.format())) {
            throw new IOException("unknown format '" + file.format() + "'");
        }
        if (!tenant.value().equals(file.tenant())) {
            throw new GeneralSecurityException("it names tenant " + file.tenant());
        }
        KeysetHandle keyset = TinkJsonProtoKeysetFormat.parseEncryptedKeyset(file.keyset(), master.aead(), associatedData(tenant));
        return active(keyset, Base64.getDecoder().decode(file.marker()), Instant.ofEpochMilli(file.primarySinceEpochMs()),
                file.acceptsPlaintext());
    }

    private static State.Active active(KeysetHandle keyset, byte[] marker, Instant primarySince, boolean acceptsPlaintext)
            throws GeneralSecurityException {
        return new State.Active(keyset, marker, primarySince, acceptsPlaintext, new DataKeyring(marker, keyset, acceptsPlaintext));
    }

    private void write(TenantId tenant, State.Active state) throws IOException {
        KeyFiles.write(fileOf(tenant), serialize(tenant, state));
        states.put(tenant, state);
    }

    /** A key file's bytes: the keyset wrapped by the master key's primary, with the tenant as associated data. */
    private byte[] serialize(TenantId tenant, State.Active state) throws IOException {
        try {
            String wrapped = TinkJsonProtoKeysetFormat.serializeEncryptedKeyset(state.keyset(), master.aead(), associatedData(tenant));
            KeyFile file = new KeyFile(FORMAT, tenant.value(), Base64.getEncoder().encodeToString(state.marker()),
                    state.primarySince().toEpochMilli(), state.acceptsPlaintext(), wrapped);
            return JSON.writeValueAsBytes(file);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot wrap the keyset of tenant " + tenant + " with the master key", e);
        }
    }

    private static KeysetHandle.Builder.Entry newKey() {
        return KeysetHandle.generateEntryFromParameters(EncryptingBlobStore.KEY_PARAMETERS).withRandomId().makePrimary();
    }

    // ---------------------------------------------------------------- DataKeys

    @Override
    public Optional<DataKeyring> forKey(BlobKey key) throws IOException {
        String value = key.value();
        if (!value.startsWith("tenants/")) {
            return Optional.empty();
        }
        int end = value.indexOf('/', "tenants/".length());
        if (end < 0) {
            return Optional.empty();
        }
        Optional<TenantId> tenant = tenantOf(value.substring("tenants/".length(), end), "");
        return tenant.isEmpty() ? Optional.empty() : ring(states.get(tenant.get()), tenant.get().value());
    }

    /** The tenant's keyring, or empty when it stores plaintext. */
    public Optional<DataKeyring> forTenant(TenantId tenant) throws IOException {
        return ring(states.get(tenant), tenant.value());
    }

    private static Optional<DataKeyring> ring(State state, String tenant) throws KeysUnavailableException {
        return switch (state) {
            case null -> Optional.empty();
            case State.Active active -> Optional.of(active.ring());
            case State.Unavailable unavailable -> throw new KeysUnavailableException(TenantId.of(tenant), unavailable.reason());
        };
    }

    // ---------------------------------------------------------------- changes

    /**
     * Gives the tenant keys if it has none: a new keyset and marker, written before this returns.
     * Does nothing for a tenant that already has them.
     *
     * @param acceptsPlaintext whether the tenant may already have plaintext blobs (then they stay
     *     readable until {@link #plaintextGone} is called)
     * @throws KeysUnavailableException if the tenant's keys are unavailable (never replaced)
     */
    public synchronized KeyStatus create(TenantId tenant, boolean acceptsPlaintext) throws IOException {
        State state = states.get(tenant);
        if (state instanceof State.Unavailable unavailable) {
            throw new KeysUnavailableException(tenant, unavailable.reason());
        }
        if (state == null) {
            byte[] marker = new byte[DataKeyring.MARKER_SIZE];
            RANDOM.nextBytes(marker);
            try {
                write(tenant, active(KeysetHandle.newBuilder().addEntry(newKey()).build(), marker, clock.instant(), acceptsPlaintext));
            } catch (GeneralSecurityException e) {
                throw new IOException("cannot create the keyset of tenant " + tenant, e);
            }
            LOG.info("tenant {} has encryption keys now{}", tenant, acceptsPlaintext ? " (its existing data will be encrypted)" : "");
        }
        return status(tenant).orElseThrow();
    }

    /** Makes a new key the tenant's primary: new blobs use it, older ones stay readable. */
    public synchronized KeyStatus rotate(TenantId tenant) throws IOException {
        State.Active current = requireActive(tenant);
        try {
            KeysetHandle next = KeysetHandle.newBuilder(current.keyset()).addEntry(newKey()).build();
            write(tenant, active(next, current.marker(), clock.instant(), current.acceptsPlaintext()));
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot rotate the keyset of tenant " + tenant, e);
        }
        LOG.info("tenant {}: encryption key rotated", tenant);
        return status(tenant).orElseThrow();
    }

    /** Records that the tenant has no plaintext blobs left: from now on one is an integrity violation. */
    public synchronized void plaintextGone(TenantId tenant) throws IOException {
        State.Active current = requireActive(tenant);
        if (current.acceptsPlaintext()) {
            try {
                write(tenant, active(current.keyset(), current.marker(), current.primarySince(), false));
            } catch (GeneralSecurityException e) {
                throw new IOException("cannot update the keyset of tenant " + tenant, e);
            }
        }
    }

    /**
     * Removes the keys in {@code retired} (never the primary): call once no blob is encrypted
     * under them. Returns how many were removed.
     */
    public synchronized int retire(TenantId tenant, Set<Integer> retired) throws IOException {
        State.Active current = requireActive(tenant);
        KeysetHandle.Builder builder = KeysetHandle.newBuilder();
        int removed = 0;
        for (int i = 0; i < current.keyset().size(); i++) {
            KeysetHandle.Entry entry = current.keyset().getAt(i);
            if (!entry.isPrimary() && retired.contains(entry.getId())) {
                removed++;
                continue;
            }
            KeysetHandle.Builder.Entry kept = KeysetHandle.importKey(entry.getKey()).withFixedId(entry.getId());
            builder.addEntry(entry.isPrimary() ? kept.makePrimary() : kept);
        }
        if (removed > 0) {
            try {
                write(tenant, active(builder.build(), current.marker(), current.primarySince(), current.acceptsPlaintext()));
            } catch (GeneralSecurityException e) {
                throw new IOException("cannot retire keys of tenant " + tenant, e);
            }
            LOG.info("tenant {}: {} old encryption key(s) retired", tenant, removed);
        }
        return removed;
    }

    /** The ids of the tenant's keys that are not its primary. */
    public Set<Integer> olderKeys(TenantId tenant) throws IOException {
        State.Active current = requireActive(tenant);
        Set<Integer> older = new HashSet<>();
        for (int i = 0; i < current.keyset().size(); i++) {
            if (!current.keyset().getAt(i).isPrimary()) {
                older.add(current.keyset().getAt(i).getId());
            }
        }
        return older;
    }

    /**
     * Crypto-shredding: destroys the tenant's keyset, so that no copy of its blobs anywhere can be
     * read again. A tombstone stays until {@link #forgetShredded} (the tenant's data is gone), so
     * the tenant cannot get new keys meanwhile and its blobs are never taken for plaintext.
     */
    public synchronized void shred(TenantId tenant) throws IOException {
        if (!states.containsKey(tenant) && !Files.exists(fileOf(tenant))) {
            return;
        }
        KeyFiles.write(tombstoneOf(tenant), ("{\"shreddedAt\":" + clock.millis() + "}").getBytes(StandardCharsets.UTF_8));
        states.put(tenant, new State.Unavailable("they were destroyed when the tenant was purged; finish the purge"));
        KeyFiles.delete(fileOf(tenant));
        LOG.info("tenant {}: keyset destroyed (crypto-shredded)", tenant);
    }

    /** Whether the tenant's keys were shredded by a purge that has not finished (its tombstone is there). */
    public boolean isShredded(TenantId tenant) {
        return Files.exists(tombstoneOf(tenant));
    }

    /** Removes the tombstone of a shredded tenant whose data is gone; the ID may be used again. */
    public synchronized void forgetShredded(TenantId tenant) throws IOException {
        if (KeyFiles.delete(tombstoneOf(tenant))) {
            states.remove(tenant);
        }
    }

    /**
     * Master key rotation, middle step: rewraps every tenant keyset with the master's current
     * primary key, one file at a time (each replaced atomically, so a crash leaves each file
     * wrapped by the old or the new key, both of which the master holds).
     *
     * @return the tenants whose keysets could not be rewrapped (unavailable ones); while any
     *     remain, the master's older keys must be kept
     */
    public synchronized List<TenantId> rewrapAll() throws IOException {
        List<TenantId> skipped = new ArrayList<>();
        Map<TenantId, State> byName = new TreeMap<>(java.util.Comparator.comparing(TenantId::value));
        byName.putAll(states);
        for (Map.Entry<TenantId, State> entry : byName.entrySet()) {
            if (entry.getValue() instanceof State.Active active) {
                write(entry.getKey(), active);
            } else if (Files.exists(fileOf(entry.getKey()))) {
                skipped.add(entry.getKey());
            }
        }
        return skipped;
    }

    private State.Active requireActive(TenantId tenant) throws KeysUnavailableException {
        return switch (states.get(tenant)) {
            case null -> throw new KeysUnavailableException(tenant, "it has no encryption keys (encryption is off)");
            case State.Active active -> active;
            case State.Unavailable unavailable -> throw new KeysUnavailableException(tenant, unavailable.reason());
        };
    }

    // ---------------------------------------------------------------- backups

    /**
     * The tenant's key file for a backup: every key of {@code archived} (an earlier such file)
     * and every live key, so that each snapshot's ciphertext stays readable after its key was
     * retired here, wrapped by the master key like the tenant's own file. Empty when
     * {@code archived} opens and already holds every live key (nothing to rewrite).
     *
     * @throws KeysUnavailableException if the tenant has no usable keys
     */
    public synchronized Optional<byte[]> archive(TenantId tenant, Optional<byte[]> archived) throws IOException {
        State.Active live = requireActive(tenant);
        Optional<State.Active> earlier = Optional.empty();
        if (archived.isPresent()) {
            try {
                earlier = Optional.of(parse(tenant, archived.get()));
            } catch (GeneralSecurityException | IOException | RuntimeException unreadable) {
                LOG.warn("the archived keyset of tenant {} in the backup target does not open ({}); it is replaced by the live keys",
                        tenant, unreadable.getMessage());
            }
        }
        Set<Integer> archivedIds = new HashSet<>();
        earlier.ifPresent(old -> {
            for (int i = 0; i < old.keyset().size(); i++) {
                archivedIds.add(old.keyset().getAt(i).getId());
            }
        });
        boolean complete = earlier.isPresent();
        for (int i = 0; i < live.keyset().size(); i++) {
            complete &= archivedIds.contains(live.keyset().getAt(i).getId());
        }
        if (complete) {
            return Optional.empty();
        }
        try {
            KeysetHandle.Builder merged = KeysetHandle.newBuilder(live.keyset());
            Set<Integer> liveIds = new HashSet<>();
            for (int i = 0; i < live.keyset().size(); i++) {
                liveIds.add(live.keyset().getAt(i).getId());
            }
            if (earlier.isPresent()) {
                KeysetHandle old = earlier.get().keyset();
                for (int i = 0; i < old.size(); i++) {
                    KeysetHandle.Entry entry = old.getAt(i);
                    if (!liveIds.contains(entry.getId())) {
                        merged.addEntry(KeysetHandle.importKey(entry.getKey()).withFixedId(entry.getId()));
                    }
                }
            }
            boolean acceptsPlaintext = live.acceptsPlaintext() || earlier.map(State.Active::acceptsPlaintext).orElse(false);
            return Optional.of(serialize(tenant, active(merged.build(), live.marker(), live.primarySince(), acceptsPlaintext)));
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot merge the archived keyset of tenant " + tenant + " with its live keys", e);
        }
    }

    /**
     * A key file from a backup ({@link #archive}) wrapped again by the master key's primary: the
     * master key rotation's step for archived keysets, so that they outlive the older master key.
     *
     * @throws KeysUnavailableException if the file does not open with the master key or is not the tenant's
     */
    public byte[] rewrapArchived(TenantId tenant, byte[] keyFile) throws IOException {
        return serialize(tenant, parseArchived(tenant, keyFile));
    }

    /**
     * The keyring of a key file from a backup ({@link #archive}), for reading that backup's ciphertext.
     *
     * @throws KeysUnavailableException if the file does not open with the master key or is not the tenant's
     */
    public DataKeyring openArchived(TenantId tenant, byte[] keyFile) throws IOException {
        return parseArchived(tenant, keyFile).ring();
    }

    private State.Active parseArchived(TenantId tenant, byte[] keyFile) throws IOException {
        try {
            return parse(tenant, keyFile);
        } catch (GeneralSecurityException | RuntimeException e) {
            throw new KeysUnavailableException(tenant, "the keyset archived with its backups does not open with the master key ("
                    + master.origin() + "): " + e.getMessage());
        }
    }

    // ---------------------------------------------------------------- reading

    /** The tenant's keys as the status shows them, or empty when it has none; unavailable keys throw. */
    public Optional<KeyStatus> status(TenantId tenant) throws KeysUnavailableException {
        return switch (states.get(tenant)) {
            case null -> Optional.empty();
            case State.Active a -> Optional.of(new KeyStatus(a.keyset().size(),
                    Integer.toUnsignedString(a.keyset().getPrimary().getId()), a.primarySince(), a.acceptsPlaintext()));
            case State.Unavailable unavailable -> throw new KeysUnavailableException(tenant, unavailable.reason());
        };
    }

    /** Tenants whose primary key is older than {@code maxAge}. */
    public List<TenantId> dueForRotation(Duration maxAge) {
        Instant limit = clock.instant().minus(maxAge);
        return states.entrySet().stream()
                .filter(e -> e.getValue() instanceof State.Active a && !a.primarySince().isAfter(limit))
                .map(Map.Entry::getKey).sorted(java.util.Comparator.comparing(TenantId::value)).toList();
    }

    /** Tenants whose plaintext blobs may not all be encrypted yet. */
    public List<TenantId> withPlaintext() {
        return states.entrySet().stream()
                .filter(e -> e.getValue() instanceof State.Active a && a.acceptsPlaintext())
                .map(Map.Entry::getKey).sorted(java.util.Comparator.comparing(TenantId::value)).toList();
    }

    /** Tenants whose keys are unavailable, with the reason. */
    public Map<TenantId, String> unavailable() {
        Map<TenantId, String> result = new TreeMap<>(java.util.Comparator.comparing(TenantId::value));
        states.forEach((tenant, state) -> {
            if (state instanceof State.Unavailable u) {
                result.put(tenant, u.reason());
            }
        });
        return result;
    }

    public MasterKey master() {
        return master;
    }

    @Override
    public String toString() {
        return "TenantKeys[" + directory + ", " + states.size() + " tenants]";
    }
}
