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
import dev.builderd.storage.core.metadata.KeysetRows;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.TenantRows;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.TenantInfo;
import java.io.IOException;
import java.io.UncheckedIOException;
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
import java.util.Arrays;
import java.util.Base64;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import org.jdbi.v3.core.Handle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every tenant's data keys, kept in the metadata store's {@code tenant_keysets} table so that
 * every node sharing it sees each tenant's keyset, its rotations and its shredding: a Tink
 * streaming AEAD keyset wrapped by the {@link MasterKey} with the tenant ID as associated data (a
 * row copied to another tenant does not open), plus the tenant's blob marker, when its primary key
 * was made, and whether plaintext blobs from before it had keys may still exist. Key files of
 * earlier versions ({@code {dir}/{tenant}.key}, {@code {tenant}.shredded}) are imported into the
 * table at start-up and then removed, so that no stale copy outlives a rotation or a purge.
 *
 * <p>A tenant without a row stores plaintext; a tenant that must be encrypted but whose keyset is
 * missing, damaged or shredded has {@link KeysUnavailableException unavailable} keys, and none of
 * its blobs are read or written. Rows change only through this class: each change is made to the
 * row as the table holds it (a concurrent change on another node is never lost), and a purge
 * leaves a tombstone row until the tenant's data is gone.
 *
 * <p>Each node caches the keysets it opened. On SQLite this node is the only writer, so the cache
 * is always current. On PostgreSQL other nodes change rows too: a write ({@link #forWriting})
 * compares the cached keyset's version with the table's first (one indexed read), so it always
 * uses the current primary key and never encrypts for a shredded keyset; a read uses a cached
 * keyset for at most {@link #RECHECK} before comparing, and a blob under a key the cached keyset
 * lacks (made by a rotation on another node) reloads it at once ({@link #reloaded}).
 */
public final class TenantKeys implements DataKeys {

    /** How long a read on PostgreSQL may use a cached keyset before its version is compared with the table's. */
    public static final Duration RECHECK = Duration.ofSeconds(2);
    private static final Logger LOG = LoggerFactory.getLogger(TenantKeys.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String FORMAT = "builderd-tenant-keyset/1";
    private static final String KEY_SUFFIX = ".key";
    private static final String SHREDDED_SUFFIX = ".shredded";
    /** The file name of the default master key in the key directory. */
    public static final String MASTER_KEY_FILE = "master.key";
    private static final SecureRandom RANDOM = new SecureRandom();
    /** The associated data of the master key check. */
    private static final byte[] MASTER_CHECK_CONTEXT = "builderd master key check".getBytes(StandardCharsets.UTF_8);
    /** The version of a tenant without a row. */
    private static final long NO_ROW = 0;
    /** How often a change is tried again when other nodes keep changing the same row first. */
    private static final int CHANGE_ATTEMPTS = 10;
    private static final String PURGED = "they were destroyed when the tenant was purged; finish the purge";
    private static final String MISSING = "its keyset is missing from the metadata store (table tenant_keysets); restore it"
            + " (the table, or the database) from a backup";

    /** A tenant's key document as stored in its row. */
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

        /** No keys: the tenant's blobs are stored as they are. */
        record Plaintext() implements State {
        }
    }

    private static final State PLAINTEXT = new State.Plaintext();

    /** A tenant's state as this node last read it: the row's version, and when (System.nanoTime) it was compared. */
    private record Cached(State state, long version, long checkedAt) {
    }

    /** A tenant's keys as the status shows them: no key material. */
    public record KeyStatus(int keys, String primaryKeyId, Instant primarySince, boolean acceptsPlaintext) {
    }

    private final Path directory;
    private final MasterKey master;
    private final MetadataStore metadata;
    private final Clock clock;
    /** Whether other nodes change the rows too (PostgreSQL): then cached keysets are compared with the table. */
    private final boolean shared;
    private final Map<TenantId, Cached> cache = new ConcurrentHashMap<>();

    private TenantKeys(Path directory, MasterKey master, MetadataStore metadata, Clock clock) {
        this.directory = directory;
        this.master = master;
        this.metadata = metadata;
        this.clock = clock;
        this.shared = metadata.location().dialect() == MetadataLocation.Dialect.POSTGRESQL;
    }

    /**
     * Whether tenant keysets (or tombstones) that a master key wrapped exist: rows of the metadata
     * store, or key files in {@code directory} not imported yet.
     */
    public static boolean exist(Path directory, MetadataStore metadata) throws IOException {
        if (metadata.read(KeysetRows::any)) {
            return true;
        }
        if (!Files.isDirectory(directory)) {
            return false;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(directory)) {
            for (Path file : files) {
                if (tenantOf(file.getFileName().toString(), KEY_SUFFIX).or(() -> tenantOf(file.getFileName().toString(),
                        SHREDDED_SUFFIX)).isPresent()) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * Imports the key files in {@code directory} into the metadata store, then opens every
     * tenant's keyset there.
     *
     * @throws IllegalStateException with a message for the operator when {@code master} opens
     *     none of the keysets, or not the master key check: it is not the master key that wrapped
     *     them (the one the other nodes use)
     */
    public static TenantKeys load(Path directory, MasterKey master, MetadataStore metadata, Clock clock) throws IOException {
        register();
        TenantKeys keys = new TenantKeys(directory, master, metadata, clock);
        keys.importFiles();
        List<TenantId> unopened = new ArrayList<>();
        int opened = 0;
        for (KeysetRows.Keyset row : keys.refreshAll()) {
            if (keys.cache.get(row.tenant()).state() instanceof State.Active) {
                opened++;
            } else if (!row.shredded()) {
                unopened.add(row.tenant());
            }
        }
        if (opened == 0 && !unopened.isEmpty()) {
            throw new IllegalStateException("the master key (" + master.origin() + ") opens none of the " + unopened.size()
                    + " tenant keysets in the metadata store: it is not the master key that wrapped them. Restore the right"
                    + " master key; builderd never replaces one.");
        }
        if ((opened > 0 || metadata.read(KeysetRows::masterCheck).isPresent()) && !keys.masterMatches()) {
            throw new IllegalStateException(keys.wrongMaster() + ". builderd never replaces a master key.");
        }
        keys.unavailable().forEach((tenant, reason) -> LOG.error("the encryption keys of tenant {} are unavailable ({}); its data"
                + " is neither read nor written until they are restored", tenant, reason));
        return keys;
    }

    /**
     * Whether the master key opens the check in {@code master_key_check}, which proves it is the
     * key the other nodes use; writes the check (with this master key) when there is none yet.
     */
    private boolean masterMatches() throws IOException {
        Optional<byte[]> check = metadata.read(KeysetRows::masterCheck);
        if (check.isEmpty()) {
            byte[] secret = new byte[32];
            RANDOM.nextBytes(secret);
            byte[] made;
            try {
                made = master.aead().encrypt(secret, MASTER_CHECK_CONTEXT);
            } catch (GeneralSecurityException e) {
                throw new IOException("cannot encrypt with the master key (" + master.origin() + ")", e);
            }
            if (metadata.inTransaction(h -> KeysetRows.insertMasterCheck(h, made, clock.millis()))) {
                return true;
            }
            check = metadata.read(KeysetRows::masterCheck);
        }
        try {
            master.aead().decrypt(check.orElseThrow(), MASTER_CHECK_CONTEXT);
            return true;
        } catch (GeneralSecurityException otherKey) {
            return false;
        }
    }

    private String wrongMaster() {
        return "the master key (" + master.origin() + ") is not the one the other nodes sharing this metadata store use (it does"
                + " not open the check in table master_key_check): give this node their master key (a copy of their master key"
                + " file, or the same UNKEY_BUILDERD_MASTER_KEY)";
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
        if (!fileName.endsWith(suffix) || fileName.equals(MASTER_KEY_FILE) || fileName.startsWith(".")) {
            return Optional.empty();
        }
        try {
            return Optional.of(TenantId.of(fileName.substring(0, fileName.length() - suffix.length())));
        } catch (RuntimeException notATenant) {
            return Optional.empty();
        }
    }

    /**
     * Moves the key files of an earlier version into the table: a tombstone first (a purge that
     * had begun stays begun), then each keyset whose tenant has no row. A file is removed once
     * the table holds it; one that differs from the tenant's row is left, with a warning, for the
     * operator to compare (the row is what every node uses).
     */
    private void importFiles() throws IOException {
        if (!Files.isDirectory(directory)) {
            return;
        }
        List<Path> tombstones = new ArrayList<>();
        List<Path> keyFiles = new ArrayList<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(directory)) {
            for (Path file : files) {
                String name = file.getFileName().toString();
                tenantOf(name, SHREDDED_SUFFIX).ifPresent(tenant -> tombstones.add(file));
                tenantOf(name, KEY_SUFFIX).ifPresent(tenant -> keyFiles.add(file));
            }
        }
        for (Path file : tombstones) {
            TenantId tenant = tenantOf(file.getFileName().toString(), SHREDDED_SUFFIX).orElseThrow();
            metadata.inTransaction(h -> KeysetRows.shred(h, tenant, clock.millis()).or(() -> KeysetRows.insert(h, tenant, null, clock.millis())));
            KeyFiles.delete(directory.resolve(tenant.value() + KEY_SUFFIX));
            KeyFiles.delete(file);
            LOG.info("tenant {}: the tombstone of its shredded keyset moved from {} into the metadata store", tenant, file);
        }
        for (Path file : keyFiles) {
            if (!Files.exists(file)) {
                continue;
            }
            TenantId tenant = tenantOf(file.getFileName().toString(), KEY_SUFFIX).orElseThrow();
            byte[] bytes = Files.readAllBytes(file);
            boolean held = metadata.inTransaction(h -> KeysetRows.insert(h, tenant, bytes, clock.millis()).isPresent()
                    || KeysetRows.find(h, tenant).flatMap(KeysetRows.Keyset::wrapped).filter(row -> Arrays.equals(row, bytes)).isPresent());
            if (held) {
                KeyFiles.delete(file);
                LOG.info("tenant {}: keyset file {} moved into the metadata store", tenant, file);
            } else {
                LOG.warn("tenant {}: the keyset file {} differs from the tenant's keyset in the metadata store, which every node"
                        + " uses; the file is left for you to compare and remove (it holds key material)", tenant, file);
            }
        }
    }

    private static byte[] associatedData(TenantId tenant) {
        return tenant.value().getBytes(StandardCharsets.UTF_8);
    }

    /** Opens a key document's bytes: the keyset must be the tenant's, wrapped by the master key. */
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

    /** A key document's bytes: the keyset wrapped by the master key's primary, with the tenant as associated data. */
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

    // ---------------------------------------------------------------- reading the table

    /** What the tenant's row (or its absence) says: never throws for a row that does not open. */
    private State stateOf(TenantId tenant, Optional<KeysetRows.Keyset> row) {
        if (row.isEmpty()) {
            boolean encrypted = metadata.read(h -> TenantRows.find(h, tenant)).map(TenantInfo::encryption).orElse(false);
            return encrypted ? new State.Unavailable(MISSING) : PLAINTEXT;
        }
        if (row.get().shredded()) {
            return new State.Unavailable(PURGED);
        }
        try {
            return parse(tenant, row.get().wrapped().orElseThrow());
        } catch (GeneralSecurityException e) {
            return new State.Unavailable("its keyset in the metadata store (table tenant_keysets) does not open with the master"
                    + " key (" + master.origin() + "): it is damaged, belongs to another tenant, or was wrapped by another master"
                    + " key; restore it from a backup");
        } catch (IOException | RuntimeException e) {
            return new State.Unavailable("its keyset in the metadata store (table tenant_keysets) cannot be read ("
                    + e.getMessage() + "); restore it from a backup");
        }
    }

    /** Reads the tenant's row now and caches what it says. */
    private State reload(TenantId tenant) {
        Optional<KeysetRows.Keyset> row = metadata.read(h -> KeysetRows.find(h, tenant));
        State state = stateOf(tenant, row);
        cache.put(tenant, new Cached(state, row.map(KeysetRows.Keyset::version).orElse(NO_ROW), System.nanoTime()));
        return state;
    }

    /**
     * The tenant's state: the cached one, compared with the table's version first when
     * {@code exact} or when it was last compared more than {@link #RECHECK} ago (PostgreSQL only).
     */
    private State current(TenantId tenant, boolean exact) {
        Cached cached = cache.get(tenant);
        if (!shared) {
            return cached == null ? PLAINTEXT : cached.state();
        }
        long now = System.nanoTime();
        if (cached != null && !exact && now - cached.checkedAt() < RECHECK.toNanos()) {
            return cached.state();
        }
        long version = metadata.read(h -> KeysetRows.version(h, tenant)).orElse(NO_ROW);
        if (cached != null && cached.version() == version) {
            cache.put(tenant, new Cached(cached.state(), version, now));
            return cached.state();
        }
        return reload(tenant);
    }

    /** Brings the cache to the table for every tenant (rows changed elsewhere are opened again); returns the rows. */
    private synchronized List<KeysetRows.Keyset> refreshAll() {
        List<KeysetRows.Keyset> rows = metadata.read(KeysetRows::all);
        Set<TenantId> encrypted = metadata.read(TenantRows::all).stream().filter(TenantInfo::encryption).map(TenantInfo::id)
                .collect(Collectors.toSet());
        Set<TenantId> seen = new HashSet<>();
        long now = System.nanoTime();
        for (KeysetRows.Keyset row : rows) {
            seen.add(row.tenant());
            Cached cached = cache.get(row.tenant());
            if (cached == null || cached.version() != row.version()) {
                cache.put(row.tenant(), new Cached(stateOf(row.tenant(), Optional.of(row)), row.version(), now));
            }
        }
        for (TenantId tenant : encrypted) {
            if (!seen.contains(tenant)) {
                cache.put(tenant, new Cached(new State.Unavailable(MISSING), NO_ROW, now));
            }
        }
        cache.keySet().removeIf(tenant -> !seen.contains(tenant) && !encrypted.contains(tenant));
        return rows;
    }

    // ---------------------------------------------------------------- DataKeys

    @Override
    public Optional<DataKeyring> forKey(BlobKey key) throws IOException {
        Optional<TenantId> tenant = ownerOf(key);
        return tenant.isEmpty() ? Optional.empty() : ring(current(tenant.get(), false), tenant.get());
    }

    /** The tenant's keys as the table holds them now: a write never uses an older primary key, nor a shredded keyset. */
    @Override
    public Optional<DataKeyring> forWriting(BlobKey key) throws IOException {
        Optional<TenantId> tenant = ownerOf(key);
        return tenant.isEmpty() ? Optional.empty() : ring(current(tenant.get(), true), tenant.get());
    }

    /** The same as {@link #forWriting}: a key missing from the cached keyset was made since, on another node. */
    @Override
    public Optional<DataKeyring> reloaded(BlobKey key) throws IOException {
        return forWriting(key);
    }

    private static Optional<TenantId> ownerOf(BlobKey key) {
        String value = key.value();
        if (!value.startsWith("tenants/")) {
            return Optional.empty();
        }
        int end = value.indexOf('/', "tenants/".length());
        return end < 0 ? Optional.empty() : tenantOf(value.substring("tenants/".length(), end), "");
    }

    /** The tenant's keyring (as the table holds it), or empty when it stores plaintext. */
    public Optional<DataKeyring> forTenant(TenantId tenant) throws IOException {
        return ring(current(tenant, true), tenant);
    }

    private static Optional<DataKeyring> ring(State state, TenantId tenant) throws KeysUnavailableException {
        return switch (state) {
            case State.Plaintext plaintext -> Optional.empty();
            case State.Active active -> Optional.of(active.ring());
            case State.Unavailable unavailable -> throw new KeysUnavailableException(tenant, unavailable.reason());
        };
    }

    // ---------------------------------------------------------------- changes

    /**
     * Gives the tenant keys if it has none: a new keyset and marker, in the table before this
     * returns. Does nothing for a tenant that already has them (made on any node).
     *
     * @param acceptsPlaintext whether the tenant may already have plaintext blobs (then they stay
     *     readable until {@link #plaintextGone} is called)
     * @throws KeysUnavailableException if the tenant's keys are unavailable (never replaced)
     */
    public synchronized KeyStatus create(TenantId tenant, boolean acceptsPlaintext) throws IOException {
        for (int attempt = 0; attempt < CHANGE_ATTEMPTS; attempt++) {
            State state = reload(tenant);
            if (state instanceof State.Unavailable unavailable) {
                throw new KeysUnavailableException(tenant, unavailable.reason());
            }
            if (state instanceof State.Active) {
                return status(tenant).orElseThrow();
            }
            if (!masterMatches()) {
                throw new KeysUnavailableException(tenant, wrongMaster());
            }
            byte[] marker = new byte[DataKeyring.MARKER_SIZE];
            RANDOM.nextBytes(marker);
            State.Active created;
            try {
                created = active(KeysetHandle.newBuilder().addEntry(newKey()).build(), marker, clock.instant(), acceptsPlaintext);
            } catch (GeneralSecurityException e) {
                throw new IOException("cannot create the keyset of tenant " + tenant, e);
            }
            byte[] bytes = serialize(tenant, created);
            Optional<Long> version = metadata.inTransaction(h -> KeysetRows.insert(h, tenant, bytes, clock.millis()));
            if (version.isPresent()) {
                cache.put(tenant, new Cached(created, version.get(), System.nanoTime()));
                LOG.info("tenant {} has encryption keys now{}", tenant, acceptsPlaintext ? " (its existing data will be encrypted)" : "");
                return status(tenant).orElseThrow();
            }
        }
        throw busy(tenant);
    }

    private static IOException busy(TenantId tenant) {
        return new IOException("the keyset of tenant " + tenant + " kept changing on other nodes; try again");
    }

    /** A change of a tenant's keys: the next state from the current one (the same one: nothing to change). */
    @FunctionalInterface
    private interface Change {
        State.Active apply(State.Active current) throws GeneralSecurityException;
    }

    /**
     * Applies {@code change} to the tenant's keyset as the table holds it, and writes the result
     * over exactly that version: when another node changed the row meanwhile, the change is
     * applied again to that node's version, so neither change is lost.
     */
    private synchronized State.Active change(TenantId tenant, String what, Change change) throws IOException {
        for (int attempt = 0; attempt < CHANGE_ATTEMPTS; attempt++) {
            Optional<KeysetRows.Keyset> row = metadata.read(h -> KeysetRows.find(h, tenant));
            State.Active current = requireActive(tenant, stateOf(tenant, row));
            State.Active next;
            try {
                next = change.apply(current);
            } catch (GeneralSecurityException e) {
                throw new IOException("cannot " + what + " of tenant " + tenant, e);
            }
            if (next == current) {
                return current;
            }
            byte[] bytes = serialize(tenant, next);
            long expected = row.orElseThrow().version();
            Optional<Long> version = metadata.inTransaction(h -> KeysetRows.replace(h, tenant, expected, bytes, clock.millis()));
            if (version.isPresent()) {
                cache.put(tenant, new Cached(next, version.get(), System.nanoTime()));
                return next;
            }
        }
        throw busy(tenant);
    }

    /** Makes a new key the tenant's primary: new blobs use it (on every node), older ones stay readable. */
    public KeyStatus rotate(TenantId tenant) throws IOException {
        change(tenant, "rotate the keyset", current -> active(KeysetHandle.newBuilder(current.keyset()).addEntry(newKey()).build(),
                current.marker(), clock.instant(), current.acceptsPlaintext()));
        LOG.info("tenant {}: encryption key rotated", tenant);
        return status(tenant).orElseThrow();
    }

    /** Records that the tenant has no plaintext blobs left: from now on one is an integrity violation. */
    public void plaintextGone(TenantId tenant) throws IOException {
        change(tenant, "update the keyset", current -> !current.acceptsPlaintext() ? current
                : active(current.keyset(), current.marker(), current.primarySince(), false));
    }

    /**
     * Removes the keys in {@code retired} (never the primary): call once no blob is encrypted
     * under them. Returns how many were removed.
     */
    public int retire(TenantId tenant, Set<Integer> retired) throws IOException {
        int[] removed = {0};
        change(tenant, "retire keys", current -> {
            KeysetHandle.Builder builder = KeysetHandle.newBuilder();
            removed[0] = 0;
            for (int i = 0; i < current.keyset().size(); i++) {
                KeysetHandle.Entry entry = current.keyset().getAt(i);
                if (!entry.isPrimary() && retired.contains(entry.getId())) {
                    removed[0]++;
                    continue;
                }
                KeysetHandle.Builder.Entry kept = KeysetHandle.importKey(entry.getKey()).withFixedId(entry.getId());
                builder.addEntry(entry.isPrimary() ? kept.makePrimary() : kept);
            }
            return removed[0] == 0 ? current
                    : active(builder.build(), current.marker(), current.primarySince(), current.acceptsPlaintext());
        });
        if (removed[0] > 0) {
            LOG.info("tenant {}: {} old encryption key(s) retired", tenant, removed[0]);
        }
        return removed[0];
    }

    /** The ids of the tenant's keys that are not its primary (as the table holds them). */
    public Set<Integer> olderKeys(TenantId tenant) throws IOException {
        State.Active current = requireActive(tenant, current(tenant, true));
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
     * read again. Its row becomes a tombstone at once, so that no node writes for the tenant any
     * more; the tombstone stays until {@link #forgetShredded} (the tenant's data is gone), so the
     * tenant cannot get new keys meanwhile and its blobs are never taken for plaintext.
     */
    public synchronized void shred(TenantId tenant) throws IOException {
        Optional<Long> version = metadata.inTransaction(h -> KeysetRows.shred(h, tenant, clock.millis()).or(() ->
                TenantRows.find(h, tenant).filter(TenantInfo::encryption).flatMap(t -> KeysetRows.insert(h, tenant, null, clock.millis()))));
        // A key file of an earlier version that was not imported (it differed from the row) is key material too.
        boolean leftover = KeyFiles.delete(directory.resolve(tenant.value() + KEY_SUFFIX));
        if (version.isEmpty() && !leftover) {
            return;
        }
        cache.put(tenant, new Cached(new State.Unavailable(PURGED), version.orElse(NO_ROW), System.nanoTime()));
        LOG.info("tenant {}: keyset destroyed (crypto-shredded)", tenant);
    }

    /** Whether the tenant's keys were shredded by a purge that has not finished (its tombstone is there). */
    public boolean isShredded(TenantId tenant) {
        return metadata.read(h -> KeysetRows.find(h, tenant)).map(KeysetRows.Keyset::shredded).orElse(false);
    }

    /** Removes the tombstone of a shredded tenant whose data is gone; the ID may be used again. */
    public synchronized void forgetShredded(TenantId tenant) throws IOException {
        if (metadata.inTransaction(h -> KeysetRows.deleteTombstone(h, tenant))) {
            cache.remove(tenant);
        }
    }

    /**
     * Master key rotation, middle step: rewraps every tenant keyset with the master's current
     * primary key, all in one transaction (a crash leaves every row wrapped by the old key, or
     * every row by the new one; the master holds both until the rotation ends).
     *
     * @return the tenants whose keysets could not be rewrapped (they do not open); while any
     *     remain, the master's older keys must be kept
     */
    public synchronized List<TenantId> rewrapAll() throws IOException {
        List<TenantId> skipped = new ArrayList<>();
        Map<TenantId, Cached> rewrapped = new HashMap<>();
        try {
            metadata.inTransaction(h -> {
                skipped.clear();
                rewrapped.clear();
                rewrapMasterCheck(h);
                for (KeysetRows.Keyset row : KeysetRows.all(h)) {
                    rewrap(h, row).ifPresentOrElse(cached -> rewrapped.put(row.tenant(), cached), () -> {
                        if (!row.shredded()) {
                            skipped.add(row.tenant());
                        }
                    });
                }
                return null;
            });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        cache.putAll(rewrapped);
        return skipped;
    }

    /** Encrypts the master key check again with the master's primary key, inside the caller's transaction. */
    private void rewrapMasterCheck(Handle h) {
        Optional<byte[]> check = KeysetRows.masterCheck(h);
        if (check.isPresent()) {
            try {
                byte[] secret = master.aead().decrypt(check.get(), MASTER_CHECK_CONTEXT);
                KeysetRows.replaceMasterCheck(h, master.aead().encrypt(secret, MASTER_CHECK_CONTEXT), clock.millis());
            } catch (GeneralSecurityException e) {
                throw new UncheckedIOException(new IOException(wrongMaster(), e));
            }
        }
    }

    /** Rewraps one row inside the caller's transaction (again over a concurrent change); empty if it does not open. */
    private Optional<Cached> rewrap(Handle h, KeysetRows.Keyset first) {
        KeysetRows.Keyset row = first;
        for (int attempt = 0; attempt < CHANGE_ATTEMPTS; attempt++) {
            if (row.shredded() || !(stateOf(row.tenant(), Optional.of(row)) instanceof State.Active active)) {
                return Optional.empty();
            }
            try {
                Optional<Long> version = KeysetRows.replace(h, row.tenant(), row.version(), serialize(row.tenant(), active), clock.millis());
                if (version.isPresent()) {
                    return Optional.of(new Cached(active, version.get(), System.nanoTime()));
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            Optional<KeysetRows.Keyset> again = KeysetRows.find(h, row.tenant());
            if (again.isEmpty()) {
                return Optional.empty();
            }
            row = again.get();
        }
        throw new UncheckedIOException(busy(row.tenant()));
    }

    private static State.Active requireActive(TenantId tenant, State state) throws KeysUnavailableException {
        return switch (state) {
            case State.Plaintext plaintext -> throw new KeysUnavailableException(tenant, "it has no encryption keys (encryption is off)");
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
        State.Active live = requireActive(tenant, current(tenant, true));
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

    /** The tenant's keys as the status shows them (as the table holds them), or empty when it has none; unavailable keys throw. */
    public Optional<KeyStatus> status(TenantId tenant) throws KeysUnavailableException {
        return switch (current(tenant, true)) {
            case State.Plaintext plaintext -> Optional.empty();
            case State.Active a -> Optional.of(new KeyStatus(a.keyset().size(),
                    Integer.toUnsignedString(a.keyset().getPrimary().getId()), a.primarySince(), a.acceptsPlaintext()));
            case State.Unavailable unavailable -> throw new KeysUnavailableException(tenant, unavailable.reason());
        };
    }

    /** Tenants (of every node) whose primary key is older than {@code maxAge}. */
    public List<TenantId> dueForRotation(Duration maxAge) {
        Instant limit = clock.instant().minus(maxAge);
        return tenantsWhere(state -> state instanceof State.Active a && !a.primarySince().isAfter(limit));
    }

    /** Tenants (of every node) whose plaintext blobs may not all be encrypted yet. */
    public List<TenantId> withPlaintext() {
        return tenantsWhere(state -> state instanceof State.Active a && a.acceptsPlaintext());
    }

    private List<TenantId> tenantsWhere(java.util.function.Predicate<State> test) {
        refreshAll();
        return cache.entrySet().stream().filter(e -> test.test(e.getValue().state()))
                .map(Map.Entry::getKey).sorted(Comparator.comparing(TenantId::value)).toList();
    }

    /** Tenants whose keys are unavailable, with the reason. */
    public Map<TenantId, String> unavailable() {
        refreshAll();
        Map<TenantId, String> result = new TreeMap<>(Comparator.comparing(TenantId::value));
        cache.forEach((tenant, cached) -> {
            if (cached.state() instanceof State.Unavailable u) {
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
        return "TenantKeys[tenant_keysets, " + cache.size() + " tenants cached]";
    }
}
