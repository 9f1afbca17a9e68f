package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobNotFoundException;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.core.error.ConflictException;
import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.metadata.BuildRows;
import dev.builderd.storage.core.metadata.CacheRows;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.model.BuildInfo;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.quota.Category;
import dev.builderd.storage.core.quota.Quotas;
import dev.builderd.storage.core.quota.Reservation;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * Build caches: a tenant's own ({@code docker-layers} by digest, {@code dependencies} under
 * {@code npm/}, {@code pip/} or {@code maven/}, {@code git-repos} by name), private to it,
 * encrypted and counted in its {@code cache} quota like the rest of its data; and the global
 * registry layer cache, written by the admin and read by any token. Writes are atomic; a layer
 * is verified against its digest on the way in (a mismatch keeps nothing), and a second write of
 * a digest that is already there stores nothing again.
 *
 * <p>Every entry of a tenant is in an index in the metadata store (size, written, last read), so
 * eviction works alike on every backend without listing it: a write that would pass the
 * tenant's cache limit first evicts entries in the policy's order (lru, fifo or random; never
 * one younger than the minimum retention), and entries unread for the maximum retention expire.
 * Reads are recorded in memory and written to the index in batches, so a hit costs no
 * synchronous metadata write. Entries pinned by an active build are never evicted or expired.
 */
public final class CacheService {

    private static final Pattern DIGEST = Pattern.compile("sha256:[0-9a-f]{64}");
    private static final String GLOBAL_PREFIX = "global/registry-cache/";
    /** A Bazel CAS entry is named by the SHA-256 of its content, so it is verified like a layer. */
    private static final String BAZEL_CAS_PREFIX = "bazel/cas/";
    /** What a dependencies key starts with: package managers, and the build-tool cache protocols. */
    private static final List<String> DEPENDENCY_PREFIXES = List.of("npm/", "pip/", "maven/",
            "bazel/ac/", BAZEL_CAS_PREFIX, "gradle/", "ccache/", "turbo/");

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

    /**
     * How entries are evicted: in {@code order} when a tenant's cache needs room (its limit is
     * the tenant's cache quota), never one younger than {@code minRetention}; any not read for
     * {@code maxRetention} (zero: never) is expired.
     */
    public record Policy(CacheRows.Order order, Duration minRetention, Duration maxRetention) {
        public static final Policy DEFAULTS = new Policy(CacheRows.Order.LRU, Duration.ZERO, Duration.ZERO);
    }

    private final MetadataStore metadata;
    private final BlobStore store;
    private final Quotas quotas;
    private final KeyedLocks<BlobKey> sameKeyWrites = new KeyedLocks<>();
    private final Policy policy;
    private final Clock clock;
    /** Reads not yet written to the index: a hit costs no synchronous metadata write. */
    private final Map<EntryRef, Long> pendingAccess = new ConcurrentHashMap<>();

    private record EntryRef(TenantId tenant, CacheType type, String key) {
    }

    private final Counter lookups;
    private final Counter evictions;
    private final Counter evictedBytes;

    /** @param stores the stores as clients see them (the tenant's entries encrypted with its keys) */
    CacheService(MetadataStore metadata, Stores stores, Quotas quotas, Policy policy, Clock clock, PrometheusRegistry registry) {
        this.lookups = Counter.builder().name("builderd_cache_lookups")
                .help("Reads of tenants' cache entries, by result (hit or miss)")
                .labelNames("tenant_id", "cache_type", "result").register(registry);
        this.evictions = Counter.builder().name("builderd_cache_evictions")
                .help("Cache entries evicted (to make room) or expired (unread past the maximum retention)")
                .labelNames("tenant_id", "cache_type").register(registry);
        this.evictedBytes = Counter.builder().name("builderd_cache_evicted_bytes")
                .help("Bytes of cache entries evicted or expired")
                .labelNames("tenant_id", "cache_type").register(registry);
        GaugeWithCallback.builder().name("builderd_cache_hit_ratio")
                .help("Hits over lookups of a tenant's cache since the daemon started, by cache type")
                .labelNames("tenant_id", "cache_type")
                .callback(callback -> hitRatios().forEach((labels, ratio) -> callback.call(ratio, labels.get(0), labels.get(1))))
                .register(registry);
        this.metadata = metadata;
        this.store = stores.caches();
        this.quotas = quotas;
        this.policy = policy;
        this.clock = clock;
    }

    // ---------------------------------------------------------------- keys: the one place for their rules

    /** The blob key of a tenant's entry, after checking the key against its type's rules. */
    static BlobKey tenantKey(TenantId tenant, CacheType type, String key) {
        switch (type) {
            case DOCKER_LAYERS -> requireDigest(key);
            case DEPENDENCIES -> {
                if (key == null || DEPENDENCY_PREFIXES.stream().noneMatch(key::startsWith)) {
                    throw new InvalidInputException("a dependencies key starts with " + String.join(", ", DEPENDENCY_PREFIXES)
                            + ", such as npm/left-pad-1.3.0.tgz; was " + quoted(key));
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
        if (type == CacheType.DEPENDENCIES && key.startsWith(BAZEL_CAS_PREFIX)) {
            return key.substring(BAZEL_CAS_PREFIX.length());
        }
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
        BlobKey blobKey = tenantKey(tenant, type, key);
        // Writes of one key take turns, so that each one's "replaced" size is what it replaced.
        try (KeyedLocks.Held turn = sameKeyWrites.lock(blobKey)) {
            Optional<BlobInfo> existing = store.stat(blobKey);
            if (type == CacheType.DOCKER_LAYERS && existing.isPresent()) {
                accessed(new EntryRef(tenant, type, key));
                return new CacheEntry(type.wireName(), key, existing.get().size(), Optional.of(expectedDigest(type, key)), false);
            }
            if (length > 0) {
                makeRoom(tenant, length);
            }
            try (Reservation reservation = quotas.reserve(tenant, Category.CACHE, Math.max(0, length))) {
                HashingInputStream hashing = new HashingInputStream(body, expectedDigest(type, key));
                BlobInfo info = store.put(blobKey, reservation.meter(hashing, length), length, WriteMode.OVERWRITE);
                metadata.inTransaction(h -> {
                    reservation.commit(h, info.size(), existing.map(BlobInfo::size).orElse(0L));
                    CacheRows.put(h, tenant, type.wireName(), key, info.size(), clock.millis());
                    return null;
                });
                return new CacheEntry(type.wireName(), key, info.size(), Optional.of(hashing.sha256()), true);
            }
        } catch (IOException e) {
            throw IoErrors.translate(e, "storing cache entry " + type.wireName() + "/" + key + " of tenant " + tenant);
        }
    }

    /** Opens {@code range} of an entry; the read counts as a use of it (for lru and retention). */
    public CacheRead open(Principal caller, TenantId tenant, CacheType type, String key, ByteRange range) {
        caller.requireAccessTo(tenant);
        CacheRead read;
        try {
            read = read(tenantKey(tenant, type, key), range, "cache entry " + type.wireName() + "/" + key + " of tenant " + tenant);
        } catch (NotFoundException miss) {
            lookups.labelValues(tenant.value(), type.wireName(), "miss").inc();
            throw miss;
        }
        lookups.labelValues(tenant.value(), type.wireName(), "hit").inc();
        accessed(new EntryRef(tenant, type, key));
        return read;
    }

    /**
     * Pins entries for an active build: none of them is evicted or expired until the build ends
     * (completed, failed or deleted). A build pins what it declares, and what it reads when it
     * names itself on the read.
     */
    public void pin(Principal caller, BuildRef build, CacheType type, List<String> keys) {
        caller.requireAccessTo(build.tenant());
        keys.forEach(key -> tenantKey(build.tenant(), type, key));
        metadata.inTransaction(h -> {
            if (BuildRows.find(h, build).filter(BuildInfo::isActive).isEmpty()) {
                throw new ConflictException("build " + build + " is not active; only an active build pins cache entries");
            }
            keys.forEach(key -> CacheRows.pin(h, build, type.wireName(), key));
            return null;
        });
    }

    private void accessed(EntryRef entry) {
        pendingAccess.merge(entry, clock.millis(), Math::max);
    }

    /** Writes the pending access times to the index in one transaction (called in the background). */
    void flushAccessTimes() {
        if (pendingAccess.isEmpty()) {
            return;
        }
        Map<EntryRef, Long> batch = new HashMap<>();
        for (EntryRef entry : List.copyOf(pendingAccess.keySet())) {
            Long at = pendingAccess.remove(entry);
            if (at != null) {
                batch.put(entry, at);
            }
        }
        metadata.inTransaction(h -> {
            batch.forEach((entry, at) -> CacheRows.touch(h, entry.tenant(), entry.type().wireName(), entry.key(), at));
            return null;
        });
    }

    /** Hits over lookups per (tenant, cache type), from the lookup counter. */
    private Map<List<String>, Double> hitRatios() {
        Map<List<String>, double[]> counts = new HashMap<>();
        for (var point : lookups.collect().getDataPoints()) {
            var labels = point.getLabels();
            double[] hitsAndAll = counts.computeIfAbsent(List.of(labels.get("tenant_id"), labels.get("cache_type")), k -> new double[2]);
            if ("hit".equals(labels.get("result"))) {
                hitsAndAll[0] += point.getValue();
            }
            hitsAndAll[1] += point.getValue();
        }
        Map<List<String>, Double> ratios = new HashMap<>();
        counts.forEach((labels, hitsAndAll) -> ratios.put(labels, hitsAndAll[1] == 0 ? 0 : hitsAndAll[0] / hitsAndAll[1]));
        return ratios;
    }

    // ---------------------------------------------------------------- eviction

    /**
     * Evicts entries of the tenant's cache, in the policy's order and never one younger than its
     * minimum retention, until {@code bytes} are freed or nothing more may go. Returns the bytes
     * freed. Also the quota's cleanup when a throttled write needs room (never artifacts).
     */
    long free(TenantId tenant, long bytes) {
        flushAccessTimes();
        long freed = 0;
        while (freed < bytes) {
            List<CacheRows.Entry> candidates = metadata.read(h -> CacheRows.candidates(h, tenant, policy.order(),
                    clock.millis() - policy.minRetention().toMillis(), 64));
            if (candidates.isEmpty()) {
                break;
            }
            for (CacheRows.Entry entry : candidates) {
                freed += evict(entry);
                if (freed >= bytes) {
                    break;
                }
            }
        }
        return freed;
    }

    /** Expires entries not read for longer than the policy's maximum retention; returns how many. */
    int expire() {
        if (policy.maxRetention().isZero()) {
            return 0;
        }
        flushAccessTimes();
        int expired = 0;
        List<CacheRows.Entry> stale;
        do {
            stale = metadata.read(h -> CacheRows.unusedSince(h, clock.millis() - policy.maxRetention().toMillis(), 256));
            for (CacheRows.Entry entry : stale) {
                evict(entry);
                expired++;
            }
        } while (stale.size() == 256);
        return expired;
    }

    /** Deletes one entry (the blob first, so the index never lists what is gone), gives its bytes back. */
    private long evict(CacheRows.Entry entry) {
        CacheType type = CacheType.parse(entry.type());
        BlobKey blobKey = tenantKey(entry.tenant(), type, entry.key());
        try (KeyedLocks.Held turn = sameKeyWrites.lock(blobKey)) {
            store.delete(blobKey);
            boolean removed = metadata.inTransaction(h -> {
                if (!CacheRows.delete(h, entry.tenant(), entry.type(), entry.key())) {
                    return false;
                }
                quotas.adjust(h, entry.tenant(), Category.CACHE, -entry.size());
                return true;
            });
            pendingAccess.remove(new EntryRef(entry.tenant(), type, entry.key()));
            if (removed) {
                evictions.labelValues(entry.tenant().value(), entry.type()).inc();
                evictedBytes.labelValues(entry.tenant().value(), entry.type()).inc(entry.size());
            }
            return removed ? entry.size() : 0;
        } catch (IOException e) {
            throw IoErrors.translate(e, "evicting cache entry " + entry.type() + "/" + entry.key() + " of tenant " + entry.tenant());
        }
    }

    /** Before a write of {@code bytes}: evicts what the tenant's cache limit needs, if it can. */
    private void makeRoom(TenantId tenant, long bytes) {
        var usage = quotas.usage(tenant);
        long cacheLimit = usage.limits().cacheBytes();
        long inCache = usage.lines().get(Category.CACHE).total();
        long overCache = inCache + bytes - cacheLimit;
        long overTotal = usage.usedBytes() + usage.reservedBytes() + bytes - usage.limits().totalBytes();
        long needed = Math.max(overCache, overTotal);
        if (needed > 0) {
            free(tenant, needed);
        }
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
                    CacheRows.delete(h, tenant, type.wireName(), key);
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
}
