package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobNotFoundException;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.TenantRows;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.quota.Category;
import dev.builderd.storage.core.quota.Quotas;
import dev.builderd.storage.core.quota.Reservation;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Build caches: a tenant's own ({@code docker-layers} by digest, {@code dependencies} under
 * {@code npm/}, {@code pip/} or {@code maven/}, {@code git-repos} by name), private to it,
 * encrypted and counted in its {@code cache} quota like the rest of its data; and the global
 * registry layer cache, written by the admin and read by any token. Writes are atomic; a layer
 * is verified against its digest on the way in (a mismatch keeps nothing), and a second write of
 * a digest that is already there stores nothing again.
 */
public final class CacheService {

    private static final Pattern DIGEST = Pattern.compile("sha256:[0-9a-f]{64}");
    private static final String GLOBAL_PREFIX = "global/registry-cache/";

    /** The kinds of a tenant's cache. */
    public enum CacheType {
        DOCKER_LAYERS, DEPENDENCIES, GIT_REPOS;

        public String wireName() {
            return name().toLowerCase(Locale.ROOT).replace('_', '-');
        }

        public static CacheType parse(String name) {
            for (CacheType type : values()) {
                if (type.wireName().equals(name)) {
                    return type;
                }
            }
            throw new InvalidInputException("cache type '" + String.valueOf(name).replaceAll("\\p{Cntrl}", "?")
                    + "' is unknown: use docker-layers, dependencies or git-repos");
        }
    }

    /**
     * A cache entry as written.
     *
     * @param stored false when the entry was there already (a layer is stored once)
     */
    public record CacheEntry(String type, String key, long size, Optional<String> sha256, boolean stored) {
    }

    /** An entry opened for reading: its size and its content; the caller closes it. */
    public record CacheRead(long size, InputStream content) {
    }

    private final MetadataStore metadata;
    private final BlobStore store;
    private final Quotas quotas;
    private final KeyedLocks<BlobKey> sameKeyWrites = new KeyedLocks<>();

    /** @param stores the stores as clients see them (the tenant's entries encrypted with its keys) */
    CacheService(MetadataStore metadata, Stores stores, Quotas quotas) {
        this.metadata = metadata;
        this.store = stores.caches();
        this.quotas = quotas;
    }

    // ---------------------------------------------------------------- keys: the one place for their rules

    /** The blob key of a tenant's entry, after checking the key against its type's rules. */
    static BlobKey tenantKey(TenantId tenant, CacheType type, String key) {
        switch (type) {
            case DOCKER_LAYERS -> requireDigest(key);
            case DEPENDENCIES -> {
                if (key == null || !(key.startsWith("npm/") || key.startsWith("pip/") || key.startsWith("maven/"))) {
                    throw new InvalidInputException("a dependencies key starts with npm/, pip/ or maven/, such as"
                            + " npm/left-pad-1.3.0.tgz; was " + quoted(key));
                }
                requireSafePath(key);
            }
            case GIT_REPOS -> requireSafePath(key);
        }
        return BlobKey.of("tenants/" + tenant.value() + "/cache/" + type.wireName() + "/" + key);
    }

    private static BlobKey globalKey(String digest) {
        requireDigest(digest);
        return BlobKey.of(GLOBAL_PREFIX + digest);
    }

    private static void requireDigest(String key) {
        if (key == null || !DIGEST.matcher(key).matches()) {
            throw new InvalidInputException("a docker layer's key is its digest, sha256: and 64 lowercase hex digits; was " + quoted(key));
        }
    }

    private static void requireSafePath(String key) {
        if (key == null || !BlobKey.isValid(key) || key.length() > 512 || key.startsWith(".") || key.contains("/.")) {
            throw new InvalidInputException("a cache key is a relative path of at most 512 characters, without '..', empty or"
                    + " hidden (dot) segments, backslashes or control characters; was " + quoted(key));
        }
    }

    private static String quoted(String key) {
        return key == null ? "(missing)" : "'" + (key.length() > 80 ? key.substring(0, 80) + "…" : key).replaceAll("\\p{Cntrl}", "?") + "'";
    }

    private static String expectedDigest(CacheType type, String key) {
        return type == CacheType.DOCKER_LAYERS ? key.substring("sha256:".length()) : null;
    }

    // ---------------------------------------------------------------- a tenant's caches

    /**
     * Stores an entry, streaming; a layer is verified against its digest (a mismatch keeps
     * nothing) and stored only once.
     *
     * @param length the body's length, or -1 if unknown
     */
    public CacheEntry put(Principal caller, TenantId tenant, CacheType type, String key, InputStream body, long length) {
        caller.requireAccessTo(tenant);
        requireTenant(tenant);
        BlobKey blobKey = tenantKey(tenant, type, key);
        // Writes of one key take turns, so that each one's "replaced" size is what it replaced.
        try (KeyedLocks.Held turn = sameKeyWrites.lock(blobKey)) {
            Optional<BlobInfo> existing = store.stat(blobKey);
            if (type == CacheType.DOCKER_LAYERS && existing.isPresent()) {
                return new CacheEntry(type.wireName(), key, existing.get().size(), Optional.of(expectedDigest(type, key)), false);
            }
            try (Reservation reservation = quotas.reserve(tenant, Category.CACHE, Math.max(0, length))) {
                HashingInputStream hashing = new HashingInputStream(body, expectedDigest(type, key));
                BlobInfo info = store.put(blobKey, length < 0 ? reservation.meter(hashing) : hashing, length, WriteMode.OVERWRITE);
                reservation.commit(info.size(), existing.map(BlobInfo::size).orElse(0L));
                return new CacheEntry(type.wireName(), key, info.size(), Optional.of(hashing.sha256()), true);
            }
        } catch (IOException e) {
            throw IoErrors.translate(e, "storing cache entry " + type.wireName() + "/" + key + " of tenant " + tenant);
        }
    }

    /** Opens {@code range} of an entry. */
    public CacheRead open(Principal caller, TenantId tenant, CacheType type, String key, ByteRange range) {
        caller.requireAccessTo(tenant);
        return read(tenantKey(tenant, type, key), range, "cache entry " + type.wireName() + "/" + key + " of tenant " + tenant);
    }

    /** Removes an entry; its bytes are given back to the tenant's quota. */
    public void delete(Principal caller, TenantId tenant, CacheType type, String key) {
        caller.requireAccessTo(tenant);
        BlobKey blobKey = tenantKey(tenant, type, key);
        String what = "cache entry " + type.wireName() + "/" + key + " of tenant " + tenant;
        try {
            BlobInfo info = store.stat(blobKey).orElseThrow(() -> new NotFoundException("there is no " + what));
            if (store.delete(blobKey)) {
                metadata.inTransaction(h -> {
                    quotas.adjust(h, tenant, Category.CACHE, -info.size());
                    return null;
                });
            }
        } catch (IOException e) {
            throw IoErrors.translate(e, "deleting " + what);
        }
    }

    // ---------------------------------------------------------------- the global registry cache

    /** Stores a layer in the global registry cache (admin only), verified against its digest, once. */
    public CacheEntry putGlobal(Principal caller, String digest, InputStream body, long length) {
        caller.requireAdmin("writing the global registry cache");
        BlobKey blobKey = globalKey(digest);
        try (KeyedLocks.Held turn = sameKeyWrites.lock(blobKey)) {
            Optional<BlobInfo> existing = store.stat(blobKey);
            if (existing.isPresent()) {
                return new CacheEntry("registry-cache", digest, existing.get().size(), Optional.of(digest.substring(7)), false);
            }
            HashingInputStream hashing = new HashingInputStream(body, digest.substring("sha256:".length()));
            BlobInfo info = store.put(blobKey, hashing, length, WriteMode.OVERWRITE);
            return new CacheEntry("registry-cache", digest, info.size(), Optional.of(hashing.sha256()), true);
        } catch (IOException e) {
            throw IoErrors.translate(e, "storing layer " + digest + " in the global registry cache");
        }
    }

    /** Opens a layer of the global registry cache; any authenticated caller may read it. */
    public CacheRead openGlobal(Principal caller, String digest, ByteRange range) {
        return read(globalKey(digest), range, "layer " + digest + " of the global registry cache");
    }

    private CacheRead read(BlobKey blobKey, ByteRange range, String what) {
        try {
            BlobInfo info = store.stat(blobKey).orElseThrow(() -> new NotFoundException("there is no " + what));
            return new CacheRead(info.size(), store.open(blobKey, range));
        } catch (BlobNotFoundException e) {
            throw new NotFoundException("there is no " + what);
        } catch (IOException e) {
            throw IoErrors.translate(e, "reading " + what);
        } catch (UncheckedIOException e) {
            throw IoErrors.translate(e.getCause(), "reading " + what);
        }
    }

    private void requireTenant(TenantId tenant) {
        if (metadata.read(h -> TenantRows.find(h, tenant)).isEmpty()) {
            throw new NotFoundException("tenant '" + tenant + "' does not exist");
        }
    }
}
