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
import dev.builderd.storage.core.error.QuotaExceededException;
import dev.builderd.storage.core.metadata.BuildRows;
import dev.builderd.storage.core.metadata.CacheRows;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.TenantRows;
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
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongFunction;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Build caches: a tenant's own ({@code docker-layers} by digest, {@code dependencies} under one
 * of {@link #DEPENDENCY_PREFIXES} (package managers, and the build-tool protocols), {@code
 * git-repos} by name), private to it, encrypted and counted in its {@code cache} quota like the
 * rest of its data; and the global registry layer cache, written by the admin and read by any
 * token. Writes are atomic; a layer (or a Bazel CAS blob) is verified against its digest on the
 * way in (a mismatch keeps nothing), and a second write of a layer that is there stores nothing.
 *
 * <p>Every entry of a tenant is in an index in the metadata store (size, written, last read), so
 * eviction works alike on every backend without listing it. Each cache type of a tenant has a
 * {@link Policy} (the daemon's defaults, with what the admin set in their place): a write that
 * would pass the type's maximum size or the tenant's cache quota first evicts entries in the
 * policy's order (never one younger than the minimum retention, nor one pinned by an active
 * build), and entries unread for the maximum retention expire. Reads are recorded in memory and
 * written to the index in batches, so a hit costs no synchronous metadata write.
 */
public final class CacheService {

    private static final Logger LOG = LoggerFactory.getLogger(CacheService.class);
    private static final Pattern DIGEST = Pattern.compile("sha256:[0-9a-f]{64}");
    private static final String GLOBAL_PREFIX = "global/registry-cache/";
    /** A Bazel CAS entry is named by the SHA-256 of its content, so it is verified like a layer. */
    private static final String BAZEL_CAS_PREFIX = "bazel/cas/";
    /** What a dependencies key starts with: package managers, and the build-tool cache protocols. */
    /**
     * Entries evicted or expired together: one index query, one file deletion pass syncing each
     * directory once, and one transaction per page. 64 measured ~700 entries/s evicting 100,000
     * entries; the per-page costs (a durable commit, a directory sync, the tenant's ledger and
     * state) then dominate.
     */
    private static final int EVICTION_PAGE = 1000;
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

    /**
     * An entry opened for reading; the caller closes it.
     *
     * @param size the whole entry's size
     * @param range the part of it that {@code content} holds ({@link ByteRange#ALL} for all of it)
     */
    public record CacheRead(long size, ByteRange range, InputStream content) {
    }

    /**
     * How the entries of one tenant's cache type are evicted, the spec's {@code CacheManager}
     * settings: in {@code order} when the type passes {@code maxSizeBytes} (zero: only the
     * tenant's cache quota bounds it) or the tenant's quota needs room, never one younger than
     * {@code minRetention}; any not read for {@code maxRetention} (zero: never) expires.
     */
    public record Policy(CacheRows.Order order, Duration minRetention, Duration maxRetention, long maxSizeBytes) {
        public static final Policy DEFAULTS = new Policy(CacheRows.Order.LRU, Duration.ZERO, Duration.ZERO, 0);

        public Policy {
            if (minRetention.isNegative() || maxRetention.isNegative() || maxSizeBytes < 0) {
                throw new IllegalArgumentException("cache policy figures are zero or more");
            }
        }

        /** This policy, with what the operator set for one tenant's cache type in its place. */
        Policy with(CacheRows.PolicyRow set) {
            return new Policy(set.order().orElse(order),
                    set.minRetentionSeconds().map(Duration::ofSeconds).orElse(minRetention),
                    set.maxRetentionSeconds().map(Duration::ofSeconds).orElse(maxRetention),
                    set.maxSizeBytes().orElse(maxSizeBytes));
        }
    }

    /**
     * One of a tenant's cache types as an operator sees it.
     *
     * @param policy the policy in force (the daemon's defaults with what was set in their place)
     * @param set what the operator set for this tenant and type
     */
    public record TypeState(CacheType type, Policy policy, CacheRows.PolicyRow set, CacheRows.TypeUsage usage) {
    }

    private final MetadataStore metadata;
    private final BlobStore store;
    private final Quotas quotas;
    private final KeyedLocks<BlobKey> sameKeyWrites = new KeyedLocks<>();
    /** The daemon's defaults; an operator may set any of it per tenant and cache type. */
    private final Policy defaults;
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
        GaugeWithCallback.builder().name("builderd_cache_size_bytes")
                .help("Bytes held by a tenant's cache type, from the cache index")
                .labelNames("tenant_id", "cache_type")
                .callback(callback -> metadata.read(h -> CacheRows.usageOfAll(h)).forEach((tenant, types) ->
                        types.forEach((type, usage) -> callback.call(usage.bytes(), tenant.value(), type))))
                .register(registry);
        GaugeWithCallback.builder().name("builderd_cache_max_size_bytes")
                .help("The maximum size of a tenant's cache type, where one is in force (its policy's MaxSize)")
                .labelNames("tenant_id", "cache_type")
                // One read per scrape: each tenant's policies once, not once per cache type.
                .callback(callback -> metadata.read(h -> {
                    CacheRows.usageOfAll(h).forEach((tenant, types) -> {
                        Map<String, CacheRows.PolicyRow> set = CacheRows.policies(h, tenant);
                        types.keySet().forEach(type -> {
                            long max = policy.with(set.getOrDefault(type, CacheRows.PolicyRow.NONE)).maxSizeBytes();
                            if (max > 0) {
                                callback.call(max, tenant.value(), type);
                            }
                        });
                    });
                    return null;
                }))
                .register(registry);
        this.metadata = metadata;
        this.store = stores.caches();
        this.quotas = quotas;
        this.defaults = policy;
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

    static BlobKey globalKey(String digest) {
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
                    + " hidden (dot) segments, segments over " + BlobKey.MAX_SEGMENT_BYTES + " bytes, backslashes or control characters;"
                    + " was " + quoted(key));
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
        caller.requireCacheWrite(tenant);
        BlobKey blobKey = tenantKey(tenant, type, key);
        // Writes of one key take turns, so that each one's "replaced" size is what it replaced.
        try (KeyedLocks.Held turn = sameKeyWrites.lock(blobKey)) {
            Optional<BlobInfo> existing = store.stat(blobKey);
            if (type == CacheType.DOCKER_LAYERS && existing.isPresent()) {
                // The body is left unread: the HTTP layer reads what the client still sends after the answer.
                accessed(new EntryRef(tenant, type, key));
                return new CacheEntry(type.wireName(), key, existing.get().size(), Optional.of(expectedDigest(type, key)), false);
            }
            Policy policy = policy(tenant, type);
            if (length > 0) {
                makeRoom(tenant, type, policy, length - existing.map(BlobInfo::size).orElse(0L));
            }
            try (Reservation reservation = quotas.reserve(tenant, Category.CACHE, Math.max(0, length))) {
                HashingInputStream hashing = new HashingInputStream(body, expectedDigest(type, key));
                BlobInfo info = store.put(blobKey, reservation.meter(hashing, length), length, WriteMode.OVERWRITE);
                metadata.inTransaction(h -> {
                    reservation.commit(h, info.size(), existing.map(BlobInfo::size).orElse(0L));
                    CacheRows.put(h, tenant, type.wireName(), key, info.size(), clock.millis());
                    return null;
                });
                if (length < 0 && policy.maxSizeBytes() > 0) {
                    // Only now is the size known: bring the type back under its limit if it can be.
                    long over = metadata.read(h -> CacheRows.usage(h, tenant, type.wireName())).bytes() - policy.maxSizeBytes();
                    free(tenant, type, policy, over);
                }
                return new CacheEntry(type.wireName(), key, info.size(), Optional.of(hashing.sha256()), true);
            }
        } catch (IOException e) {
            throw IoErrors.translate(e, "storing cache entry " + type.wireName() + "/" + key + " of tenant " + tenant);
        }
    }

    /** Opens {@code range} of an entry; the read counts as a use of it (for lru and retention). */
    public CacheRead open(Principal caller, TenantId tenant, CacheType type, String key, ByteRange range) {
        return open(caller, tenant, type, key, size -> range);
    }

    /**
     * Opens the part of an entry that {@code rangeOfSize} chooses once the entry's size is known
     * (an HTTP {@code Range} header, say); the read counts as a use of it.
     */
    public CacheRead open(Principal caller, TenantId tenant, CacheType type, String key, LongFunction<ByteRange> rangeOfSize) {
        caller.requireCacheRead(tenant);
        CacheRead read;
        try {
            read = read(tenantKey(tenant, type, key), rangeOfSize, "cache entry " + type.wireName() + "/" + key + " of tenant " + tenant);
        } catch (NotFoundException miss) {
            lookups.labelValues(tenant.value(), type.wireName(), "miss").inc();
            forgetIfGone(tenant, type, key);
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
        caller.requireWrite(build);
        keys.forEach(key -> tenantKey(build.tenant(), type, key));
        metadata.inTransaction(h -> {
            if (BuildRows.find(h, build).filter(BuildInfo::isActive).isEmpty()) {
                throw new ConflictException("build " + build + " is not active; only an active build pins cache entries");
            }
            keys.forEach(key -> CacheRows.pin(h, build, type.wireName(), key));
            return null;
        });
    }

    /** After a miss: an index row whose blob is gone (a crash mid-eviction) is dropped, with its bytes. */
    private void forgetIfGone(TenantId tenant, CacheType type, String key) {
        if (metadata.read(h -> CacheRows.find(h, tenant, type.wireName(), key)).isEmpty()) {
            return;
        }
        BlobKey blobKey = tenantKey(tenant, type, key);
        try (KeyedLocks.Held turn = sameKeyWrites.lock(blobKey)) {
            if (store.stat(blobKey).isEmpty()) {
                metadata.inTransaction(h -> {
                    CacheRows.find(h, tenant, type.wireName(), key).ifPresent(entry -> {
                        CacheRows.delete(h, tenant, type.wireName(), key);
                        quotas.adjust(h, tenant, Category.CACHE, -entry.size());
                    });
                    return null;
                });
            }
        } catch (IOException e) {
            LOG.warn("checking cache entry {}/{} of tenant {} after a miss failed: {}", type.wireName(), key, tenant, e.getMessage());
        }
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
     * Evicts entries of the tenant's cache until {@code bytes} are freed or nothing more may go,
     * each type in its own policy's order, the type holding the most bytes first. Returns the
     * bytes freed. Also the quota's cleanup when a throttled write needs room (never artifacts).
     */
    long free(TenantId tenant, long bytes) {
        Map<String, CacheRows.TypeUsage> usage = metadata.read(h -> CacheRows.usageOf(h, tenant));
        List<CacheType> largestFirst = usage.entrySet().stream()
                .sorted(Map.Entry.<String, CacheRows.TypeUsage>comparingByValue(
                        java.util.Comparator.comparingLong(CacheRows.TypeUsage::bytes)).reversed())
                .map(e -> CacheType.parse(e.getKey())).toList();
        long freed = 0;
        for (CacheType type : largestFirst) {
            if (freed >= bytes) {
                break;
            }
            freed += free(tenant, type, policy(tenant, type), bytes - freed);
        }
        return freed;
    }

    /**
     * Evicts entries of one cache type in its policy's order, never one younger than its minimum
     * retention or pinned by an active build, until {@code bytes} are freed or nothing more may
     * go. Returns the bytes freed.
     */
    private long free(TenantId tenant, CacheType type, Policy policy, long bytes) {
        flushAccessTimes();
        long freed = 0;
        while (freed < bytes) {
            List<CacheRows.Entry> candidates = metadata.read(h -> CacheRows.candidates(h, tenant, type.wireName(), policy.order(),
                    clock.millis() - policy.minRetention().toMillis(), EVICTION_PAGE));
            if (candidates.isEmpty()) {
                break;
            }
            List<CacheRows.Entry> enough = new java.util.ArrayList<>();
            long planned = freed;
            for (CacheRows.Entry entry : candidates) {
                if (planned >= bytes) {
                    break;
                }
                enough.add(entry);
                planned += entry.size();
            }
            long evicted = evict(enough);
            if (evicted == 0) {
                break; // every candidate is busy being written or evicted by another thread
            }
            freed += evicted;
        }
        return freed;
    }

    /** Expires entries not read for longer than their type's maximum retention; returns how many. */
    int expire() {
        flushAccessTimes();
        int expired = 0;
        for (var tenantTypes : metadata.read(h -> CacheRows.usageOfAll(h)).entrySet()) {
            TenantId tenant = tenantTypes.getKey();
            for (String typeName : tenantTypes.getValue().keySet()) {
                Policy policy = policy(tenant, CacheType.parse(typeName));
                if (policy.maxRetention().isZero()) {
                    continue;
                }
                List<CacheRows.Entry> stale;
                do {
                    stale = metadata.read(h -> CacheRows.unusedSince(h, tenant, typeName,
                            clock.millis() - policy.maxRetention().toMillis(), EVICTION_PAGE));
                    if (evict(stale) == 0 && !stale.isEmpty()) {
                        break; // all busy: the next round takes them
                    }
                    expired += stale.size();
                } while (stale.size() == EVICTION_PAGE);
            }
        }
        return expired;
    }

    /**
     * Evicts entries together: their blobs first (so the index never lists what is gone), made
     * durable at once, then their rows and bytes in one transaction. An entry whose key is busy
     * (being written, or evicted by another thread) is skipped. Returns the bytes freed.
     */
    private long evict(List<CacheRows.Entry> entries) {
        List<KeyedLocks.Held> turns = new java.util.ArrayList<>();
        List<CacheRows.Entry> taken = new java.util.ArrayList<>();
        try {
            for (CacheRows.Entry entry : entries) {
                sameKeyWrites.tryLock(blobKey(entry)).ifPresent(turn -> {
                    turns.add(turn);
                    taken.add(entry);
                });
            }
            if (taken.isEmpty()) {
                return 0;
            }
            store.deleteAll(taken.stream().map(CacheService::blobKey).toList());
            List<CacheRows.Entry> removed = metadata.inTransaction(h -> {
                List<CacheRows.Entry> gone = new java.util.ArrayList<>();
                taken.stream().collect(java.util.stream.Collectors.groupingBy(entry -> new EntryRef(entry.tenant(),
                                CacheType.parse(entry.type()), ""), java.util.stream.Collectors.mapping(CacheRows.Entry::key,
                                java.util.stream.Collectors.toList())))
                        .forEach((tenantType, keys) -> {
                            List<CacheRows.Entry> deleted = CacheRows.deleteAll(h, tenantType.tenant(), tenantType.type().wireName(), keys);
                            quotas.adjust(h, tenantType.tenant(), Category.CACHE, -deleted.stream().mapToLong(CacheRows.Entry::size).sum());
                            gone.addAll(deleted);
                        });
                return gone;
            });
            long freed = 0;
            for (CacheRows.Entry entry : removed) {
                pendingAccess.remove(new EntryRef(entry.tenant(), CacheType.parse(entry.type()), entry.key()));
                evictions.labelValues(entry.tenant().value(), entry.type()).inc();
                evictedBytes.labelValues(entry.tenant().value(), entry.type()).inc(entry.size());
                freed += entry.size();
            }
            return freed;
        } catch (IOException e) {
            throw IoErrors.translate(e, "evicting " + taken.size() + " cache entries of tenant " + entries.getFirst().tenant());
        } finally {
            turns.forEach(KeyedLocks.Held::close);
        }
    }

    private static BlobKey blobKey(CacheRows.Entry entry) {
        return tenantKey(entry.tenant(), CacheType.parse(entry.type()), entry.key());
    }

    /**
     * Before a write of {@code bytes} more: evicts what the type's maximum size needs, refusing
     * the write when that cannot be freed (entries too young or pinned), then what the tenant's
     * cache quota needs, if it can (the quota itself refuses or throttles what is still over).
     */
    private void makeRoom(TenantId tenant, CacheType type, Policy policy, long bytes) {
        if (policy.maxSizeBytes() > 0) {
            long inType = metadata.read(h -> CacheRows.usage(h, tenant, type.wireName())).bytes();
            long overType = inType + bytes - policy.maxSizeBytes();
            if (overType > 0 && free(tenant, type, policy, overType) < overType) {
                throw new QuotaExceededException("the " + type.wireName() + " cache of tenant " + tenant + " would pass its maximum size of "
                        + policy.maxSizeBytes() + " bytes, and its entries that could make room are younger than the minimum"
                        + " retention or pinned by active builds",
                        new QuotaExceededException.Figures("cache/" + type.wireName(), policy.maxSizeBytes(), inType, bytes));
            }
        }
        var usage = quotas.usage(tenant);
        long inCache = usage.lines().get(Category.CACHE).total();
        long overCache = inCache + bytes - usage.limits().cacheBytes();
        long overTotal = usage.usedBytes() + usage.reservedBytes() + bytes - usage.limits().totalBytes();
        long needed = Math.max(overCache, overTotal);
        if (needed > 0) {
            free(tenant, needed);
        }
    }

    /** The policy in force for one tenant's cache type. */
    private Policy policy(TenantId tenant, CacheType type) {
        return defaults.with(metadata.read(h -> CacheRows.policies(h, tenant)).getOrDefault(type.wireName(), CacheRows.PolicyRow.NONE));
    }

    /** Every cache type of a tenant: its policy in force, what the operator set, its size. */
    public List<TypeState> types(Principal caller, TenantId tenant) {
        caller.requireRead(tenant);
        return metadata.read(h -> {
            Map<String, CacheRows.PolicyRow> set = CacheRows.policies(h, tenant);
            return java.util.Arrays.stream(CacheType.values()).map(type -> {
                CacheRows.PolicyRow row = set.getOrDefault(type.wireName(), CacheRows.PolicyRow.NONE);
                return new TypeState(type, defaults.with(row), row, CacheRows.usage(h, tenant, type.wireName()));
            }).toList();
        });
    }

    /**
     * Sets the policy of one tenant's cache type (admin only); what {@code set} leaves empty takes
     * the daemon's default. A smaller maximum size evicts what it can at once.
     */
    public TypeState setPolicy(Principal caller, TenantId tenant, CacheType type, CacheRows.PolicyRow set) {
        caller.requireAdmin("setting a tenant's cache policy");
        Policy policy;
        try {
            policy = defaults.with(set);
        } catch (IllegalArgumentException e) {
            throw new InvalidInputException("a cache policy's max_size_bytes and retention seconds are zero or more");
        }
        metadata.inTransaction(h -> {
            if (TenantRows.find(h, tenant).isEmpty()) {
                throw new NotFoundException("there is no tenant " + tenant);
            }
            CacheRows.setPolicy(h, tenant, type.wireName(), set);
            return null;
        });
        if (policy.maxSizeBytes() > 0) {
            free(tenant, type, policy, metadata.read(h -> CacheRows.usage(h, tenant, type.wireName())).bytes() - policy.maxSizeBytes());
        }
        return types(caller, tenant).stream().filter(state -> state.type() == type).findFirst().orElseThrow();
    }

    /**
     * Indexes the entries of a tenant that are stored but not in the index, so that they are
     * evicted and expired like the rest: what a crash between a write's publish and its index
     * commit leaves behind. Returns how many it indexed. (An index row whose blob is gone is
     * dropped when a read misses it.)
     */
    int reconcileIndex() {
        return metadata.read(TenantRows::all).stream().mapToInt(tenant -> reconcileIndex(tenant.id())).sum();
    }

    private int reconcileIndex(TenantId tenant) {
        String prefix = "tenants/" + tenant.value() + "/cache/";
        int indexed = 0;
        try {
            Iterator<BlobInfo> stored = store.list(prefix, null);
            while (stored.hasNext()) {
                BlobInfo blob = stored.next();
                String rest = blob.key().value().substring(prefix.length());
                int slash = rest.indexOf('/');
                Optional<CacheType> type = slash < 0 ? Optional.empty()
                        : java.util.Arrays.stream(CacheType.values()).filter(t -> t.wireName().equals(rest.substring(0, slash))).findFirst();
                if (type.isEmpty() || metadata.read(h -> CacheRows.find(h, tenant, type.get().wireName(), rest.substring(slash + 1))).isPresent()) {
                    continue;
                }
                String key = rest.substring(slash + 1);
                // Under the key's turn a write in flight has committed its row, and an eviction has removed its blob.
                try (KeyedLocks.Held turn = sameKeyWrites.lock(blob.key())) {
                    Optional<BlobInfo> still = store.stat(blob.key());
                    if (still.isPresent() && metadata.inTransaction(h -> {
                        if (CacheRows.find(h, tenant, type.get().wireName(), key).isPresent()) {
                            return false;
                        }
                        CacheRows.put(h, tenant, type.get().wireName(), key, still.get().size(), clock.millis());
                        return true;
                    })) {
                        indexed++;
                    }
                }
            }
        } catch (IOException | UncheckedIOException e) {
            LOG.warn("indexing the unindexed cache entries of tenant {} stopped: listing failed: {}", tenant, e.getMessage());
        }
        if (indexed > 0) {
            LOG.warn("event=cache_index_repaired tenant={} entries={}: stored cache entries missing from the index were indexed", tenant, indexed);
        }
        return indexed;
    }

    /** Removes an entry; its bytes are given back to the tenant's quota. */
    public void delete(Principal caller, TenantId tenant, CacheType type, String key) {
        caller.requireWrite(tenant);
        quotas.requireWritable(tenant);
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

    /** Opens the part of a layer of the global registry cache that {@code rangeOfSize} chooses; any caller may read it. */
    public CacheRead openGlobal(Principal caller, String digest, LongFunction<ByteRange> rangeOfSize) {
        return read(globalKey(digest), rangeOfSize, "layer " + digest + " of the global registry cache");
    }

    /** The layers of the global registry cache, in key order. */
    Iterator<BlobInfo> globalLayers() throws IOException {
        return store.list(GLOBAL_PREFIX, null);
    }

    private CacheRead read(BlobKey blobKey, LongFunction<ByteRange> rangeOfSize, String what) {
        try {
            BlobInfo info = store.stat(blobKey).orElseThrow(() -> new NotFoundException("there is no " + what));
            ByteRange range = rangeOfSize.apply(info.size());
            return new CacheRead(info.size(), range, store.open(blobKey, range));
        } catch (BlobNotFoundException e) {
            throw new NotFoundException("there is no " + what);
        } catch (IOException e) {
            throw IoErrors.translate(e, "reading " + what);
        } catch (UncheckedIOException e) {
            throw IoErrors.translate(e.getCause(), "reading " + what);
        }
    }
}
