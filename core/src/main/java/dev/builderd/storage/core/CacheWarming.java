package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobNotFoundException;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.TieredBlobStore;
import dev.builderd.storage.core.CacheService.CacheType;
import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.metadata.CacheRows;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.TenantRows;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Cache warming: pre-fills the local tiers (memory, local disk) with entries a tenant is about to
 * need, so that its first builds after a deploy or on a new node read locally. An admin names the
 * entries: a list of keys of one of the tenant's cache types, the keys another tenant holds in
 * that type (the tenant's own entries of the same keys are warmed; those it does not have count
 * as missing), or the global registry cache's layers. A warming runs as a job in the background,
 * a few entries at a time, with its progress readable until the daemon stops (jobs are not kept
 * across restarts: warming again is harmless, entries already local cost nothing).
 */
public final class CacheWarming implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(CacheWarming.class);
    /** Entries fetched at a time: enough to hide a remote's latency, few enough to leave it room. */
    private static final int PARALLEL_FETCHES = 8;
    /** Finished jobs kept for reading their outcome. */
    private static final int FINISHED_KEPT = 100;

    /** What to warm; exactly one source: {@code keys}, {@code fromTenant} or {@code fromGlobal}. */
    public record Request(Optional<CacheType> type, List<String> keys, Optional<TenantId> fromTenant, boolean fromGlobal) {
        public Request {
            keys = List.copyOf(keys);
        }
    }

    /**
     * A warming job's progress.
     *
     * @param state {@code running}, {@code finished} or {@code failed}
     * @param total the entries to warm, or -1 while the global cache is still being listed
     * @param fetched entries copied into a local tier by this job
     * @param alreadyLocal entries that were local already
     * @param missing entries the tenant (or the global cache) does not hold
     * @param failed entries that could not be fetched (the remote failed; see the log)
     */
    public record Progress(String id, TenantId tenant, String source, String state, long total, long fetched, long alreadyLocal,
            long missing, long failed, long bytes, Instant started, Optional<Instant> finished, Optional<String> error) {
    }

    /** The local tiers of the cache store. */
    public interface LocalTiers {
        /**
         * Copies the blob from the remote into the local tiers, unless they hold it already.
         *
         * @return whether it was copied (false: it was local already)
         * @throws BlobNotFoundException when the store does not hold it
         */
        boolean prefetch(BlobKey key) throws IOException;

        /** The size of a blob as stored. */
        long size(BlobKey key) throws IOException;

        /** The tiers in front of a remote store. */
        static LocalTiers of(TieredBlobStore tiers) {
            return new LocalTiers() {
                public boolean prefetch(BlobKey key) throws IOException {
                    return tiers.prefetch(key);
                }

                public long size(BlobKey key) throws IOException {
                    return tiers.stat(key).map(BlobInfo::size).orElse(0L);
                }
            };
        }

        /** No local tier but the store itself: a blob it holds is local already. */
        static LocalTiers none(BlobStore store) {
            return new LocalTiers() {
                public boolean prefetch(BlobKey key) throws IOException {
                    if (store.stat(key).isEmpty()) {
                        throw new BlobNotFoundException(key);
                    }
                    return false;
                }

                public long size(BlobKey key) throws IOException {
                    return store.stat(key).map(BlobInfo::size).orElse(0L);
                }
            };
        }
    }

    private final class Job {
        final String id = UUID.randomUUID().toString();
        final TenantId tenant;
        final String source;
        final Instant started = clock.instant();
        final AtomicLong total = new AtomicLong(-1);
        final AtomicLong fetched = new AtomicLong();
        final AtomicLong alreadyLocal = new AtomicLong();
        final AtomicLong missing = new AtomicLong();
        final AtomicLong failed = new AtomicLong();
        final AtomicLong bytes = new AtomicLong();
        final AtomicReference<String> state = new AtomicReference<>("running");
        volatile Instant finished;
        volatile String error;

        Job(TenantId tenant, String source) {
            this.tenant = tenant;
            this.source = source;
        }

        Progress progress() {
            return new Progress(id, tenant, source, state.get(), total.get(), fetched.get(), alreadyLocal.get(), missing.get(), failed.get(),
                    bytes.get(), started, Optional.ofNullable(finished), Optional.ofNullable(error));
        }
    }

    private final MetadataStore metadata;
    private final CacheService caches;
    private final LocalTiers tiers;
    private final Clock clock;
    private final Map<String, Job> jobs = new ConcurrentHashMap<>();
    private final Deque<String> finishedOrder = new ArrayDeque<>();
    private final ExecutorService runner = Executors.newVirtualThreadPerTaskExecutor();

    CacheWarming(MetadataStore metadata, CacheService caches, LocalTiers tiers, Clock clock) {
        this.metadata = metadata;
        this.caches = caches;
        this.tiers = tiers;
        this.clock = clock;
    }

    /** Starts warming {@code tenant}'s entries named by {@code request} (admin only); returns at once. */
    public Progress start(Principal caller, TenantId tenant, Request request) {
        caller.requireAdmin("warming a tenant's cache");
        int sources = (request.keys().isEmpty() ? 0 : 1) + (request.fromTenant().isPresent() ? 1 : 0) + (request.fromGlobal() ? 1 : 0);
        if (sources != 1 && !(request.fromGlobal() && sources == 2 && request.fromTenant().isEmpty())) {
            throw new InvalidInputException("name what to warm: keys, from_tenant or from_global (from_global may come with keys:"
                    + " the layers to warm)");
        }
        if (!request.fromGlobal() && request.type().isEmpty()) {
            throw new InvalidInputException("name the cache type to warm: docker-layers, dependencies or git-repos");
        }
        requireTenant(tenant, "there is no tenant " + tenant);
        request.fromTenant().ifPresent(other -> requireTenant(other, "there is no tenant " + other + " to take cache keys from"));
        // Every key is checked before anything starts: a bad one is the caller's error, named.
        List<BlobKey> named = request.fromGlobal()
                ? request.keys().stream().map(CacheService::globalKey).toList()
                : request.keys().stream().map(key -> CacheService.tenantKey(tenant, request.type().orElseThrow(), key)).toList();
        String source = request.fromGlobal() ? "global registry cache"
                : request.fromTenant().map(other -> "keys of tenant " + other).orElse(named.size() + " named keys");
        Job job = new Job(tenant, source);
        jobs.put(job.id, job);
        runner.execute(() -> run(job, request, named));
        return job.progress();
    }

    private void requireTenant(TenantId tenant, String missing) {
        if (metadata.read(h -> TenantRows.find(h, tenant)).isEmpty()) {
            throw new NotFoundException(missing);
        }
    }

    /** A warming job of {@code tenant} (admin only). */
    public Progress progress(Principal caller, TenantId tenant, String id) {
        caller.requireAdmin("reading a cache warming job");
        Job job = jobs.get(id);
        if (job == null || !job.tenant.equals(tenant)) {
            throw new NotFoundException("there is no cache warming job " + id.replaceAll("[^0-9a-zA-Z-]", "?") + " of tenant " + tenant
                    + " (jobs are kept until the daemon stops)");
        }
        return job.progress();
    }

    private void run(Job job, Request request, List<BlobKey> named) {
        Semaphore inFlight = new Semaphore(PARALLEL_FETCHES);
        try (ExecutorService fetches = Executors.newVirtualThreadPerTaskExecutor()) {
            Iterator<BlobKey> keys = keys(job, request, named);
            long seen = 0;
            while (keys.hasNext()) {
                BlobKey key = keys.next();
                seen++;
                inFlight.acquire();
                fetches.execute(() -> {
                    try {
                        fetch(job, key);
                    } finally {
                        inFlight.release();
                    }
                });
            }
            job.total.set(seen);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            job.error = "the daemon stopped";
        } catch (RuntimeException e) {
            LOG.error("cache warming job {} of tenant {} failed: {}", job.id, job.tenant, e.getMessage(), e);
            job.error = e.getMessage();
        }
        job.finished = clock.instant();
        job.state.set(job.error == null ? "finished" : "failed");
        LOG.info("cache warming job {} of tenant {} {}: {} fetched ({} bytes), {} local already, {} missing, {} failed", job.id,
                job.tenant, job.state.get(), job.fetched.get(), job.bytes.get(), job.alreadyLocal.get(), job.missing.get(), job.failed.get());
        synchronized (finishedOrder) {
            finishedOrder.addLast(job.id);
            while (finishedOrder.size() > FINISHED_KEPT) {
                jobs.remove(finishedOrder.removeFirst());
            }
        }
    }

    private void fetch(Job job, BlobKey key) {
        try {
            if (tiers.prefetch(key)) {
                job.fetched.incrementAndGet();
                job.bytes.addAndGet(tiers.size(key));
            } else {
                job.alreadyLocal.incrementAndGet();
            }
        } catch (BlobNotFoundException e) {
            job.missing.incrementAndGet();
        } catch (IOException | RuntimeException e) {
            job.failed.incrementAndGet();
            LOG.warn("cache warming job {} could not fetch {}: {}", job.id, key, e.getMessage());
        }
    }

    /** The keys of {@code job.tenant}'s entries to warm, lazily: another tenant's index is read a page at a time. */
    private Iterator<BlobKey> keys(Job job, Request request, List<BlobKey> named) {
        if (!named.isEmpty()) {
            job.total.set(named.size());
            return named.iterator();
        }
        if (request.fromGlobal()) {
            try {
                Iterator<BlobInfo> listed = caches.globalLayers();
                return new Iterator<>() {
                    public boolean hasNext() {
                        return listed.hasNext();
                    }

                    public BlobKey next() {
                        return listed.next().key();
                    }
                };
            } catch (IOException e) {
                throw new UncheckedIOException("listing the global registry cache failed", e);
            }
        }
        TenantId other = request.fromTenant().orElseThrow();
        CacheType type = request.type().orElseThrow();
        job.total.set(metadata.read(h -> CacheRows.usage(h, other, type.wireName())).entries());
        return new Iterator<>() {
            private Iterator<String> page = List.<String>of().iterator();
            private String last = "";
            private boolean exhausted;

            public boolean hasNext() {
                if (!page.hasNext() && !exhausted) {
                    List<String> next = metadata.read(h -> CacheRows.keys(h, other, type.wireName(), last, 500));
                    exhausted = next.size() < 500;
                    if (!next.isEmpty()) {
                        last = next.getLast();
                    }
                    page = next.iterator();
                }
                return page.hasNext();
            }

            public BlobKey next() {
                return CacheService.tenantKey(job.tenant, type, page.next());
            }
        };
    }

    @Override
    public void close() {
        runner.shutdownNow();
    }
}
