package dev.builderd.storage.core.quota;

import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.error.UnavailableException;
import dev.builderd.storage.core.error.QuotaExceededException;
import dev.builderd.storage.core.metadata.FenceRows;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.QuotaRows;
import dev.builderd.storage.core.metadata.RateLimitRows;
import dev.builderd.storage.core.metadata.TenantRows;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.TenantInfo;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.UUID;
import org.jdbi.v3.core.Handle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The byte ledger of every tenant: writes reserve before they write and commit the real size
 * after, so that no mix of concurrent writers (threads or nodes sharing PostgreSQL) ever stores
 * more than a hard limit, by a single byte. Every check and change runs in one transaction that
 * holds the tenant's lock (PostgreSQL row lock; SQLite's single writer).
 *
 * <p>A line's {@code used} is what is stored; {@code reserved} what uploads in flight hold. A
 * reservation is a row too: one that its holder never released (it died) expires and is swept.
 */
public final class Quotas {

    private static final Logger LOG = LoggerFactory.getLogger(Quotas.class);

    /**
     * On PostgreSQL, how long another node's fence may take to stop a write that does not
     * reserve quota (creating, completing or deleting a build, and the like): each node reads the
     * fences at most this often. A write that reserves quota (every upload) sees fences exactly,
     * in the transaction that reserves; a fence set through this node holds here at once.
     */
    public static final Duration FENCE_BOUND = Duration.ofSeconds(2);

    /**
     * Quota behaviour.
     *
     * @param softPercent the soft limit of tenants without an override
     * @param action what a write past a hard limit gets, for tenants without an override
     * @param throttleWait how long a throttled write waits for space before it is refused
     * @param reservationLease how long a reservation outlives its last extension if its holder dies
     * @param checkInterval how often active builds' directories are measured
     * @param reconcileInterval how often the ledger is compared with the stores and repaired
     */
    public record Config(int softPercent, HardLimitAction action, Duration throttleWait, Duration reservationLease,
            Duration checkInterval, Duration reconcileInterval) {
        public static final Config DEFAULTS = new Config(Limits.DEFAULT_SOFT_PERCENT, HardLimitAction.REJECT,
                Duration.ofSeconds(30), Duration.ofHours(6), Duration.ofSeconds(30), Duration.ofMinutes(10));
    }

    /** Frees space in a tenant's cache when a throttled write needs it; never touches artifacts. */
    @FunctionalInterface
    public interface CacheCleaner {
        /** Deletes cache entries of {@code tenant} by the cleanup policy until about {@code bytes} are freed; returns the bytes freed. */
        long free(TenantId tenant, long bytes);

        CacheCleaner NONE = (tenant, bytes) -> 0;
    }

    /** Told of every soft or hard limit crossing (metrics, events). */
    @FunctionalInterface
    public interface Crossings {
        void crossed(TenantId tenant, String from, String to);
    }

    private final MetadataStore metadata;
    private final Config config;
    private final Clock clock;
    private final CacheCleaner cleaner;
    private final Crossings crossings;
    private final String holder;
    private final Object spaceFreed = new Object();

    /**
     * @param holder this node's name, the same across its restarts: at start-up the reservations
     *     it held before are released (its writes died with it)
     */
    private final Map<TenantId, String> fences = new java.util.concurrent.ConcurrentHashMap<>();
    /** Whether other nodes share the metadata store (PostgreSQL), so fences live in {@code tenant_fences} too. */
    private final boolean shared;
    /** The fences of every node as last read, and when (System.nanoTime); PostgreSQL only. */
    private volatile ClusterFences clusterFences = new ClusterFences(Map.of(), System.nanoTime() - FENCE_BOUND.toNanos() - 1);

    private record ClusterFences(Map<TenantId, FenceRows.Fence> byTenant, long readNanos) {
    }

    public Quotas(MetadataStore metadata, Config config, Clock clock, String holder, CacheCleaner cleaner, Crossings crossings) {
        this.metadata = metadata;
        this.holder = holder;
        this.config = config;
        this.clock = clock;
        this.cleaner = cleaner;
        this.crossings = crossings;
        this.shared = metadata.location().dialect() == MetadataLocation.Dialect.POSTGRESQL;
    }

    // ---------------------------------------------------------------- fences

    /**
     * Refuses every write of the tenant (each reservation, and each change that calls
     * {@link #requireWritable}) with {@link UnavailableException} naming {@code why}, until
     * {@link #unfence}. Reads go on. A restore fences the tenant it rewrites.
     *
     * <p>On PostgreSQL the fence holds on every node sharing the database: reservations check it
     * in their own transaction (after the tenant's row lock, which this takes too, so no
     * reservation commits after the fence unless it was made before); other writes see it within
     * {@link #FENCE_BOUND}. A fence whose node dies is removed when that node starts again.
     *
     * @return false if the tenant was fenced already (by another restore, on any node)
     */
    public boolean fence(TenantId tenant, String why) {
        if (fences.putIfAbsent(tenant, why) != null) {
            return false;
        }
        if (shared) {
            boolean fenced;
            try {
                fenced = metadata.inTransaction(h -> {
                    metadata.lockTenant(h, tenant);
                    return FenceRows.insert(h, tenant, why, holder, clock.millis());
                });
            } catch (RuntimeException e) {
                fences.remove(tenant);
                throw e;
            }
            if (!fenced) {
                fences.remove(tenant);
                return false;
            }
        }
        return true;
    }

    public void unfence(TenantId tenant) {
        if (shared) {
            metadata.inTransaction(h -> {
                FenceRows.delete(h, tenant, holder);
                return null;
            });
        }
        fences.remove(tenant);
    }

    /**
     * Throws {@link UnavailableException} (503) while the tenant is fenced: at once for a fence of
     * this node, within {@link #FENCE_BOUND} for another node's.
     */
    public void requireWritable(TenantId tenant) {
        String why = fences.get(tenant);
        if (why == null && shared) {
            FenceRows.Fence fence = clusterFences().get(tenant);
            why = fence == null ? null : fence.reason() + " on node " + fence.node();
        }
        if (why != null) {
            throw fenced(tenant, why);
        }
    }

    private static UnavailableException fenced(TenantId tenant, String why) {
        return new UnavailableException("tenant '" + tenant + "' refuses writes while " + why
                + "; reads still work, and writes work again when it ends");
    }

    /** Every node's fences, read again when the last read is older than {@link #FENCE_BOUND}. */
    private Map<TenantId, FenceRows.Fence> clusterFences() {
        ClusterFences known = clusterFences;
        if (System.nanoTime() - known.readNanos() <= FENCE_BOUND.toNanos()) {
            return known.byTenant();
        }
        synchronized (this) {
            known = clusterFences;
            if (System.nanoTime() - known.readNanos() > FENCE_BOUND.toNanos()) {
                long started = System.nanoTime();
                known = new ClusterFences(Map.copyOf(metadata.read(FenceRows::all)), started);
                clusterFences = known;
            }
            return known.byTenant();
        }
    }

    // ---------------------------------------------------------------- limits and usage

    /** The tenant's limits: its tier's with its overrides. */
    public Limits limits(Handle h, TenantId tenant) {
        return limits(h, existing(h, tenant));
    }

    /** The limits of a tenant already read: only its overrides are looked up. */
    public Limits limits(TenantInfo tenant) {
        return metadata.read(h -> limits(h, tenant));
    }

    /** The limits of a tenant read in the caller's transaction: only its overrides are looked up. */
    public Limits limits(Handle h, TenantInfo tenant) {
        return Limits.of(tenant.tier(), QuotaRows.overrides(h, tenant.id()), config.softPercent(), config.action());
    }

    /** The tenant's usage, for the admin or the tenant itself. */
    public Usage usage(Principal caller, TenantId tenant) {
        caller.requireRead(tenant);
        return usage(tenant);
    }

    /** Sets the tenant's limit overrides (admin only). */
    public Usage setOverrides(Principal caller, TenantId tenant, Limits.Overrides overrides) {
        caller.requireAdmin("changing a tenant's limits");
        return setOverrides(tenant, overrides);
    }

    public Usage usage(TenantId tenant) {
        return metadata.read(h -> new Usage(tenant, limits(h, tenant), QuotaRows.ledger(h, tenant), QuotaRows.state(h, tenant)));
    }

    /** Re-evaluates where the tenant stands after its tier changed. */
    public void refreshState(TenantId tenant) {
        metadata.inTransaction(h -> {
            updateState(h, requireTenant(h, tenant));
            return null;
        });
        wakeWaiters();
    }

    /** Sets the tenant's overrides (empty fields: the tier's), and re-evaluates its state. */
    public Usage setOverrides(TenantId tenant, Limits.Overrides overrides) {
        metadata.inTransaction(h -> {
            TenantInfo info = requireTenant(h, tenant);
            Limits.of(info.tier(), overrides, config.softPercent(), config.action());
            QuotaRows.putOverrides(h, tenant, overrides);
            updateState(h, info);
            return null;
        });
        wakeWaiters();
        return usage(tenant);
    }

    /** The tenant's fairness limits on the API: its tier's with its overrides. */
    public RateLimits rateLimits(TenantId tenant) {
        return metadata.read(h -> rateLimits(h, existing(h, tenant)));
    }

    /** The fairness limits of a tenant already read: only its overrides are looked up. */
    public RateLimits rateLimits(TenantInfo tenant) {
        return metadata.read(h -> rateLimits(h, tenant));
    }

    private static RateLimits rateLimits(Handle h, TenantInfo tenant) {
        return RateLimits.of(tenant.tier(), RateLimitRows.overrides(h, tenant.id()));
    }

    /** The tenant's row, read without a lock. */
    private static TenantInfo existing(Handle h, TenantId tenant) {
        return TenantRows.find(h, tenant).orElseThrow(() -> new NotFoundException("tenant '" + tenant + "' does not exist"));
    }

    /** Sets the tenant's fairness overrides (admin only; empty fields: the tier's) and returns its limits now. */
    public RateLimits setRateOverrides(Principal caller, TenantId tenant, RateLimits.Overrides overrides) {
        caller.requireAdmin("changing a tenant's limits");
        metadata.inTransaction(h -> {
            RateLimits.of(requireTenant(h, tenant).tier(), overrides);
            RateLimitRows.putOverrides(h, tenant, overrides);
            return null;
        });
        return rateLimits(tenant);
    }

    /** Locks the tenant's row and returns it. */
    private TenantInfo requireTenant(Handle h, TenantId tenant) {
        return metadata.lockedTenant(h, tenant).orElseThrow(() -> new NotFoundException("tenant '" + tenant + "' does not exist"));
    }

    // ---------------------------------------------------------------- reservations

    /**
     * Reserves {@code bytes} of {@code category} for a write about to start. Past a hard limit,
     * {@code reject} refuses at once; {@code throttle} first has the tenant's cache cleaned, then
     * waits up to {@link Config#throttleWait()} for other writes to finish or data to be deleted.
     *
     * @throws QuotaExceededException with the limit, the usage and what would free space
     */
    public Reservation reserve(TenantId tenant, Category category, long bytes) {
        if (bytes < 0) {
            throw new IllegalArgumentException("cannot reserve " + bytes + " bytes");
        }
        // This node's fences here; every node's in the reservation's transaction (exact, no cache).
        String fencedHere = fences.get(tenant);
        if (fencedHere != null) {
            throw fenced(tenant, fencedHere);
        }
        String id = UUID.randomUUID().toString();
        Attempt attempt = tryReserve(tenant, category, id, bytes, false);
        if (attempt.refusal().isPresent() && attempt.action() == HardLimitAction.THROTTLE) {
            attempt = throttle(tenant, category, id, bytes, attempt);
        }
        if (attempt.refusal().isPresent()) {
            throw attempt.refusal().get();
        }
        return new Reservation(this, tenant, category, id, bytes);
    }

    private Attempt throttle(TenantId tenant, Category category, String id, long bytes, Attempt refused) {
        QuotaExceededException.Figures figures = refused.refusal().get().figures().orElseThrow();
        long freed = cleaner.free(tenant, figures.usedBytes() + figures.requestedBytes() - figures.limitBytes());
        if (freed > 0) {
            LOG.info("tenant {}: throttled write freed {} bytes of cache", tenant, freed);
        }
        long deadline = System.nanoTime() + config.throttleWait().toNanos();
        Attempt attempt = tryReserve(tenant, category, id, bytes, false);
        while (attempt.refusal().isPresent() && System.nanoTime() < deadline) {
            synchronized (spaceFreed) {
                try {
                    // Woken when a write of this node ends or data is deleted; the timeout covers other nodes.
                    spaceFreed.wait(Math.max(1, Math.min(1000, (deadline - System.nanoTime()) / 1_000_000)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            attempt = tryReserve(tenant, category, id, bytes, false);
        }
        return attempt;
    }

    /** The outcome of one reservation attempt. */
    private record Attempt(Optional<QuotaExceededException> refusal, HardLimitAction action) {
    }

    private Attempt tryReserve(TenantId tenant, Category category, String id, long bytes, boolean extension) {
        // Not synced: a crash ends the write this is for, and the start-up sweep drops the reservation.
        return metadata.inUnsyncedTransaction(h -> {
            TenantInfo info = requireTenant(h, tenant);
            if (shared) {
                // Exact, under the tenant's lock that fence() takes too: no node reserves for a fenced tenant.
                FenceRows.find(h, tenant).ifPresent(fence -> {
                    throw fenced(tenant, fence.reason() + " on node " + fence.node());
                });
            }
            Limits limits = limits(h, info);
            Map<Category, QuotaRows.Line> ledger = QuotaRows.ledger(h, tenant);
            long total = ledger.values().stream().mapToLong(QuotaRows.Line::total).sum();
            long inCategory = ledger.get(category).total();
            Optional<QuotaExceededException> refusal = refusal(tenant, category, limits, total, inCategory, bytes);
            if (refusal.isPresent()) {
                return new Attempt(refusal, limits.action());
            }
            QuotaRows.add(h, tenant, category, 0, bytes);
            long expires = clock.millis() + config.reservationLease().toMillis();
            if (extension) {
                QuotaRows.growReservation(h, id, bytes, expires);
            } else {
                QuotaRows.insertReservation(h, new QuotaRows.ReservationRow(id, tenant, category, bytes), holder, expires);
            }
            // No state change to look for: the state follows stored bytes, which a reservation does not change.
            return new Attempt(Optional.empty(), limits.action());
        });
    }

    private static Optional<QuotaExceededException> refusal(TenantId tenant, Category category, Limits limits, long total,
            long inCategory, long bytes) {
        OptionalLong categoryLimit = limits.of(category);
        if (categoryLimit.isPresent() && inCategory + bytes > categoryLimit.getAsLong()) {
            return Optional.of(exceeded(tenant, category.wireName(), categoryLimit.getAsLong(), inCategory, bytes));
        }
        if (total + bytes > limits.totalBytes()) {
            return Optional.of(exceeded(tenant, "total", limits.totalBytes(), total, bytes));
        }
        return Optional.empty();
    }

    private static QuotaExceededException exceeded(TenantId tenant, String scope, long limit, long used, long bytes) {
        return new QuotaExceededException("tenant " + tenant + " would pass its " + scope + " quota: " + used + " of " + limit
                + " bytes are used or being uploaded, and this write needs " + bytes + " more; free space by deleting"
                + " builds (DELETE /v1/tenants/" + tenant + "/builds/{build}) or artifacts, or raise the tenant's limits",
                new QuotaExceededException.Figures(scope, limit, used, bytes));
    }

    /**
     * What to tell a client whose write left the tenant at or past its soft limit (the
     * {@code X-Quota-Warning} header), or empty.
     */
    public Optional<String> warning(TenantId tenant) {
        // Every write asks; the state alone (one row, kept by every commit) answers most of them.
        if (metadata.read(h -> QuotaRows.state(h, tenant)).equals("ok")) {
            return Optional.empty();
        }
        Usage usage = usage(tenant);
        if (usage.state().equals("ok")) {
            return Optional.empty();
        }
        Limits limits = usage.limits();
        StringBuilder warning = new StringBuilder();
        for (Category category : Category.values()) {
            OptionalLong limit = limits.of(category);
            long used = usage.lines().get(category).used();
            if (limit.isPresent() && used >= limits.soft(limit.getAsLong())) {
                warning.append(category.wireName()).append(' ').append(percent(used, limit.getAsLong())).append(" of ")
                        .append(limit.getAsLong()).append(" bytes; ");
            }
        }
        warning.append("total ").append(percent(usage.usedBytes(), limits.totalBytes())).append(" of ")
                .append(limits.totalBytes()).append(" bytes (soft limit ").append(limits.softPercent()).append("%)");
        return Optional.of(warning.toString());
    }

    private static String percent(long part, long whole) {
        return whole == 0 ? "100%" : String.format(java.util.Locale.ROOT, "%.1f%%", 100.0 * part / whole);
    }

    /** Grows a reservation by {@code bytes} (an upload of unknown length streaming on). */
    void extend(Reservation reservation, long bytes) {
        Attempt attempt = tryReserve(reservation.tenant(), reservation.category(), reservation.id(), bytes, true);
        if (attempt.refusal().isPresent()) {
            throw attempt.refusal().get();
        }
    }

    /**
     * Commits a reservation inside the caller's transaction (the one that records what was
     * written): {@code actual} bytes are now stored, {@code replaced} bytes no longer are.
     */
    void commit(Handle h, Reservation reservation, long actual, long replaced) {
        Optional<TenantInfo> tenant = metadata.lockedTenant(h, reservation.tenant());
        if (tenant.isEmpty()) {
            return;
        }
        OptionalLong held = QuotaRows.deleteReservation(h, reservation.id());
        QuotaRows.add(h, reservation.tenant(), reservation.category(), actual - replaced, -held.orElse(0));
        updateState(h, tenant.get());
    }

    void commit(Reservation reservation, long actual, long replaced) {
        metadata.inTransaction(h -> {
            commit(h, reservation, actual, replaced);
            return null;
        });
        wakeWaiters();
    }

    void release(Reservation reservation) {
        // Not synced, like the reservation itself: a crash before it is on disk leaves the reservation to the start-up sweep.
        metadata.inUnsyncedTransaction(h -> {
            if (!metadata.lockTenant(h, reservation.tenant())) {
                return null;
            }
            OptionalLong held = QuotaRows.deleteReservation(h, reservation.id());
            if (held.isPresent()) {
                QuotaRows.add(h, reservation.tenant(), reservation.category(), 0, -held.getAsLong());
            }
            return null;
        });
        wakeWaiters();
    }

    /** Records, in the caller's transaction, that {@code bytes} of {@code category} were deleted (negative) or added. */
    public void adjust(Handle h, TenantId tenant, Category category, long bytes) {
        Optional<TenantInfo> info = metadata.lockedTenant(h, tenant);
        if (info.isEmpty()) {
            return;
        }
        QuotaRows.add(h, tenant, category, bytes, 0);
        updateState(h, info.get());
        if (bytes < 0) {
            wakeWaiters();
        }
    }

    /** Sets a measured category (the scanner) or a reconciled one; returns the drift (new minus ledger). */
    public long measured(Handle h, TenantId tenant, Category category, long bytes) {
        return measured(h, tenant, Map.of(category, bytes)).getOrDefault(category, 0L);
    }

    /**
     * Sets several measured categories at once, in the caller's transaction, and re-evaluates the
     * tenant's state once; returns the drift of each (new minus ledger).
     */
    public Map<Category, Long> measured(Handle h, TenantId tenant, Map<Category, Long> bytes) {
        Optional<TenantInfo> info = metadata.lockedTenant(h, tenant);
        if (info.isEmpty()) {
            return Map.of();
        }
        Map<Category, Long> drift = new java.util.EnumMap<>(Category.class);
        bytes.forEach((category, value) -> drift.put(category, value - QuotaRows.setUsed(h, tenant, category, value)));
        updateState(h, info.get());
        if (drift.values().stream().anyMatch(d -> d < 0)) {
            wakeWaiters();
        }
        return drift;
    }

    private void wakeWaiters() {
        synchronized (spaceFreed) {
            spaceFreed.notifyAll();
        }
    }

    /**
     * Removes reservations that no live writer holds: at start-up, every one this node held
     * before (its writes died with it); and, on any node, those whose lease expired (a node that
     * never came back). Returns how many were removed.
     */
    public int sweep(boolean startUp) {
        if (startUp && shared) {
            int unfenced = metadata.inTransaction(h -> FenceRows.deleteOf(h, holder));
            if (unfenced > 0) {
                LOG.warn("removed {} tenant fence(s) left by restores that died with this node's previous run", unfenced);
            }
        }
        int swept = metadata.inTransaction(h -> {
            var stale = QuotaRows.stale(h, startUp ? holder : "", clock.millis());
            for (QuotaRows.ReservationRow row : stale) {
                metadata.lockTenant(h, row.tenant());
                QuotaRows.deleteReservation(h, row.id());
                QuotaRows.add(h, row.tenant(), row.category(), 0, -row.bytes());
            }
            return stale.size();
        });
        if (swept > 0) {
            LOG.info("released {} quota reservation(s) left by writers that are gone", swept);
            wakeWaiters();
        }
        return swept;
    }

    /** Re-evaluates where the tenant stands (ok, soft, hard), logging and reporting a crossing once. */
    private void updateState(Handle h, TenantInfo info) {
        TenantId tenant = info.id();
        Limits limits = limits(h, info);
        Map<Category, QuotaRows.Line> ledger = QuotaRows.ledger(h, tenant);
        String now = stateOf(limits, ledger);
        String before = QuotaRows.state(h, tenant);
        if (!now.equals(before)) {
            QuotaRows.setState(h, tenant, now);
            LOG.info("event=quota_{} tenant={} from={} to={} used_bytes={} limit_bytes={}", now, tenant, before, now,
                    ledger.values().stream().mapToLong(QuotaRows.Line::used).sum(), limits.totalBytes());
            crossings.crossed(tenant, before, now);
        }
    }

    private static String stateOf(Limits limits, Map<Category, QuotaRows.Line> ledger) {
        long total = ledger.values().stream().mapToLong(QuotaRows.Line::used).sum();
        boolean hard = total >= limits.totalBytes();
        boolean soft = total >= limits.soft(limits.totalBytes());
        for (Category category : Category.values()) {
            OptionalLong limit = limits.of(category);
            if (limit.isPresent()) {
                long used = ledger.get(category).used();
                hard |= used >= limit.getAsLong();
                soft |= used >= limits.soft(limit.getAsLong());
            }
        }
        return hard ? "hard" : soft ? "soft" : "ok";
    }
}
