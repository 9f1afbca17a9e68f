package dev.builderd.storage.blob;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A remote store with faster local tiers in front: a memory tier for small hot blobs (weighted by
 * bytes), an optional local disk tier, then the remote, which stays the source of truth.
 *
 * <p><b>Reads</b> go down the tiers and fill the faster ones on the way back: a memory hit is
 * served from the heap; a disk hit from its file (and a small one is copied into memory); a blob
 * read whole from the remote is streamed to the caller while it is written to a disk staging file
 * and, if small, captured for memory; it enters a tier only when it arrived whole with the length
 * the remote reported. A caller that stops early or a remote that fails mid-read leaves nothing
 * behind, and a remote stream that ends short or runs long fails the read instead of passing a
 * truncated blob off as whole. A ranged read is served by a tier that holds the blob, else by the
 * remote, without filling.
 *
 * <p><b>The remote is bounded</b>: its stat and the opening of its stream get
 * {@link Settings#remoteTimeout()} each. A remote that does not answer in time, or fails, is
 * counted {@code degraded} (not a miss) and the read fails with {@link BackendUnavailableException},
 * unless a faster tier holds the blob: then the remote is not asked at all. A failing disk tier
 * (full, I/O error) is counted {@code degraded} for the disk tier and the request goes on to the
 * remote.
 *
 * <p><b>Writes</b> go through to the remote. Puts and deletes drop the key from every tier before
 * the remote is called (so a crash in between never leaves an older blob on the local disk) and
 * again before they return; a fill that began before a write of its key is dropped instead of
 * published. A put of a small blob captures it while streaming and keeps it in memory, unless
 * another write of the key (or of a key that shares its lock stripe) overlapped. {@link #stat}
 * answers from a tier that holds the blob (the tiers only ever hold the remote's current blob, as
 * far as writes through this store go), else from the remote; {@link #list} always from the
 * remote.
 *
 * <p>Tiers are private to this store: a blob changed in the remote by anyone else (another node
 * sharing it) is served from a tier as it was until it is evicted, or until that writer's
 * {@link RemoteWrites} announcement reaches this store's {@link #forget}.
 */
public final class TieredBlobStore implements BlobStore, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(TieredBlobStore.class);
    /** Fills and writes take turns per stripe of keys, not per key, so the bookkeeping stays bounded. */
    private static final int STRIPES = 256;

    /**
     * Sizes of the tiers and the bound on remote calls.
     *
     * @param memoryBytes bytes the memory tier holds at most; 0 turns it off
     * @param memoryMaxEntryBytes the largest blob the memory tier takes
     * @param diskDirectory where the disk tier keeps its files; empty: no disk tier
     * @param diskBytes bytes the disk tier holds at most
     * @param remoteTimeout how long the remote may take to answer a stat or to open a stream
     */
    public record Settings(long memoryBytes, int memoryMaxEntryBytes, Optional<Path> diskDirectory, long diskBytes,
            Duration remoteTimeout) {

        public static final long DEFAULT_MEMORY_BYTES = 256L << 20;
        public static final int DEFAULT_MEMORY_MAX_ENTRY_BYTES = 1 << 20;
        public static final long DEFAULT_DISK_BYTES = 10L << 30;
        public static final Duration DEFAULT_REMOTE_TIMEOUT = Duration.ofSeconds(5);

        public Settings {
            Objects.requireNonNull(diskDirectory, "diskDirectory");
            if (memoryBytes < 0 || memoryMaxEntryBytes < 0 || diskBytes < 0) {
                throw new IllegalArgumentException("tier sizes must be >= 0");
            }
            if (diskDirectory.isPresent() && diskBytes == 0) {
                throw new IllegalArgumentException("a disk tier needs a size above 0");
            }
            if (remoteTimeout.isNegative() || remoteTimeout.isZero()) {
                throw new IllegalArgumentException("the remote timeout must be positive");
            }
        }

        /** The same tiers without the disk tier (for a remote that is itself a local filesystem). */
        public Settings withoutDisk() {
            return new Settings(memoryBytes, memoryMaxEntryBytes, Optional.empty(), 0, remoteTimeout);
        }

        /** Whether any tier is in front of the remote. */
        public boolean hasTiers() {
            return memoryBytes > 0 || diskDirectory.isPresent();
        }
    }

    /** The tiers, fastest first. */
    public enum Tier {
        MEMORY, DISK, REMOTE;

        /** The name in metrics: {@code memory}, {@code disk}, {@code remote}. */
        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /**
     * What one tier did since the store was opened: reads it served ({@code hits}), reads it did
     * not have ({@code misses}; for the remote: the blob exists nowhere), blobs copied into it
     * ({@code fills}), and reads it failed or was too slow for ({@code degraded}); with the bytes
     * it holds against its bound (both 0 for the remote, whose size is not tracked).
     */
    public record TierStats(Tier tier, long hits, long misses, long fills, long degraded, long sizeBytes, long maxBytes) {
    }

    /** An immutable blob in the memory tier: {@code bytes} is never written after it is cached. */
    private record Cached(byte[] bytes, BlobInfo info) {
    }

    private static final class Counts {
        final LongAdder hits = new LongAdder();
        final LongAdder misses = new LongAdder();
        final LongAdder fills = new LongAdder();
        final LongAdder degraded = new LongAdder();
    }

    /**
     * Told of the keys this store wrote or deleted in the remote, after each remote call returned
     * or failed (a failed call may have changed the remote all the same), so that other stores
     * holding tiers over the same remote can {@link #forget} their copies. Runs on the writing
     * thread; a failure to announce fails the write, which the caller retries or reports.
     */
    @FunctionalInterface
    public interface RemoteWrites {
        void wrote(List<BlobKey> keys);
    }

    private interface RemoteCall<T> {
        T run() throws IOException;
    }

    private final BlobStore remote;
    private final Settings settings;
    /** Null when the memory tier is off. */
    private final Cache<BlobKey, Cached> memory;
    /** Null when there is no disk tier. */
    private final DiskTier disk;
    private final Map<Tier, Counts> counts = new EnumMap<>(Tier.class);
    /** Bumped by every write of a key in the stripe; a fill publishes only if its stripe's generation did not move. */
    private final AtomicLongArray generations = new AtomicLongArray(STRIPES);
    private final ReentrantLock[] locks = new ReentrantLock[STRIPES];
    private volatile RemoteWrites announcement = keys -> { };

    /** Puts the tiers of {@code settings} in front of {@code remote}; a disk tier starts its background scan. */
    public TieredBlobStore(BlobStore remote, Settings settings) throws IOException {
        this.remote = Objects.requireNonNull(remote, "remote");
        this.settings = settings;
        this.memory = settings.memoryBytes() == 0 ? null : Caffeine.newBuilder()
                .maximumWeight(settings.memoryBytes())
                // The key's length stands in for the entry's overhead, so an empty blob still weighs something.
                .weigher((BlobKey key, Cached cached) -> cached.bytes().length + key.value().length())
                // Eviction inline with the write that needs it: the tier never overshoots its bytes for long.
                .executor(Runnable::run)
                .build();
        this.disk = settings.diskDirectory().isEmpty() ? null : new DiskTier(settings.diskDirectory().get(), settings.diskBytes());
        for (Tier tier : Tier.values()) {
            counts.put(tier, new Counts());
        }
        for (int i = 0; i < STRIPES; i++) {
            locks[i] = new ReentrantLock();
        }
    }

    /** Announces every later write and delete of the remote to {@code announcement} (once, at wiring time). */
    public void announceWritesTo(RemoteWrites announcement) {
        this.announcement = Objects.requireNonNull(announcement, "announcement");
    }

    /**
     * Drops this store's copies of {@code key} and any fill of it in flight: the remote's blob was
     * changed or deleted by someone else, so the next read goes to the remote.
     */
    public void forget(BlobKey key) {
        invalidate(key);
    }

    /**
     * Drops every copy in every tier (and the files of the disk tier): for a store that cannot tell
     * which of its copies the remote changed while it was not listening.
     */
    public void forgetAll() throws IOException {
        for (ReentrantLock lock : locks) {
            lock.lock();
        }
        try {
            for (int stripe = 0; stripe < STRIPES; stripe++) {
                generations.incrementAndGet(stripe);
            }
            if (memory != null) {
                memory.invalidateAll();
            }
            if (disk != null) {
                disk.clear();
            }
        } finally {
            for (ReentrantLock lock : locks) {
                lock.unlock();
            }
        }
    }

    /** The store behind the tiers. */
    public BlobStore remote() {
        return remote;
    }

    /** Each tier's counters and size, fastest first; tiers that are off are left out. */
    public List<TierStats> stats() {
        List<TierStats> stats = new ArrayList<>();
        if (memory != null) {
            long size = memory.policy().eviction().orElseThrow().weightedSize().orElse(0);
            stats.add(stats(Tier.MEMORY, size, settings.memoryBytes()));
        }
        if (disk != null) {
            stats.add(stats(Tier.DISK, disk.bytes(), disk.maxBytes()));
        }
        stats.add(stats(Tier.REMOTE, 0, 0));
        return stats;
    }

    private TierStats stats(Tier tier, long size, long max) {
        Counts c = counts.get(tier);
        return new TierStats(tier, c.hits.sum(), c.misses.sum(), c.fills.sum(), c.degraded.sum(), size, max);
    }

    @Override
    public String backendName() {
        return remote.backendName();
    }

    // ---------------------------------------------------------------- reading

    @Override
    public InputStream open(BlobKey key, ByteRange range) throws IOException {
        Optional<InputStream> local = openLocal(key, range);
        return local.isPresent() ? local.get() : openRemote(key, range);
    }

    /**
     * Reads {@code key} from the remote into the local tiers, without handing it to anyone, so
     * that the next read is local. Does nothing when a local tier holds it already. A blob too big
     * for every tier is read and dropped.
     *
     * @return whether the remote was read
     * @throws BlobNotFoundException if the remote has no such blob
     */
    public boolean prefetch(BlobKey key) throws IOException {
        if ((memory != null && memory.getIfPresent(key) != null) || (disk != null && disk.lookup(key).isPresent())) {
            return false;
        }
        try (InputStream in = openRemote(key, ByteRange.ALL)) {
            in.transferTo(OutputStream.nullOutputStream());
        }
        return true;
    }

    /** The blob from the memory or disk tier, or empty when neither can serve it. */
    private Optional<InputStream> openLocal(BlobKey key, ByteRange range) {
        if (memory != null) {
            Cached cached = memory.getIfPresent(key);
            if (cached != null) {
                counts.get(Tier.MEMORY).hits.increment();
                return Optional.of(slice(cached.bytes(), range));
            }
            counts.get(Tier.MEMORY).misses.increment();
        }
        if (disk == null) {
            return Optional.empty();
        }
        Optional<BlobInfo> onDisk = disk.lookup(key);
        if (onDisk.isEmpty()) {
            counts.get(Tier.DISK).misses.increment();
            return Optional.empty();
        }
        try {
            InputStream in = isSmall(onDisk.get().size()) ? fromDiskIntoMemory(onDisk.get(), range) : disk.open(key, range);
            counts.get(Tier.DISK).hits.increment();
            return Optional.of(in);
        } catch (BlobNotFoundException | DiskTierDrift gone) {
            disk.forget(key);
            counts.get(Tier.DISK).misses.increment();
        } catch (IOException e) {
            counts.get(Tier.DISK).degraded.increment();
            LOG.warn("the cache disk tier failed to read {}; reading the remote instead: {}", key, e.getMessage());
        }
        return Optional.empty();
    }

    /** A file of the disk tier that no longer holds what the index says. */
    private static final class DiskTierDrift extends IOException {
        DiskTierDrift(BlobKey key) {
            super("the disk tier's file of " + key + " changed behind its back");
        }
    }

    /** Reads a small blob of the disk tier whole, copies it into memory, and serves {@code range} of it. */
    private InputStream fromDiskIntoMemory(BlobInfo info, ByteRange range) throws IOException {
        long generation = generation(info.key());
        byte[] bytes;
        try (InputStream in = disk.open(info.key(), ByteRange.ALL)) {
            bytes = in.readNBytes(settings.memoryMaxEntryBytes() + 1);
        }
        if (bytes.length != info.size()) {
            throw new DiskTierDrift(info.key());
        }
        Cached cached = new Cached(bytes, info);
        publishIfUnchanged(info.key(), generation, () -> {
            memory.put(info.key(), cached);
            counts.get(Tier.MEMORY).fills.increment();
        });
        return slice(bytes, range);
    }

    /** The blob from the remote; read whole, it is teed into the tiers that take it. */
    private InputStream openRemote(BlobKey key, ByteRange range) throws IOException {
        // Taken before the remote is asked: a write of the key from now on makes this fill drop its result.
        long generation = generation(key);
        try {
            if (!range.isAll()) {
                InputStream in = remotely("opening a range of", key, () -> remote.open(key, range));
                counts.get(Tier.REMOTE).hits.increment();
                return in;
            }
            BlobInfo info = remotely("looking up", key, () -> remote.stat(key)).orElseThrow(() -> new BlobNotFoundException(key));
            InputStream in = remotely("opening", key, () -> remote.open(key, ByteRange.ALL));
            counts.get(Tier.REMOTE).hits.increment();
            return new Fill(info, generation, in, isSmall(info.size()), stagingFor(info));
        } catch (BlobNotFoundException e) {
            counts.get(Tier.REMOTE).misses.increment();
            throw e;
        }
    }

    private boolean isSmall(long size) {
        return memory != null && size <= settings.memoryMaxEntryBytes();
    }

    /** A staging file for {@code info}'s blob, or null when the disk tier cannot take it. */
    private Path stagingFor(BlobInfo info) {
        if (disk == null || !disk.fits(info.size())) {
            return null;
        }
        try {
            return disk.stage();
        } catch (IOException e) {
            counts.get(Tier.DISK).degraded.increment();
            LOG.warn("the cache disk tier cannot stage {}: {}", info.key(), e.getMessage());
            return null;
        }
    }

    /**
     * Runs one call to the remote within the remote timeout. A call that does not answer in
     * time, or fails for a reason other than a missing blob, is counted degraded and fails with
     * {@link BackendUnavailableException}; a stream it opens after all is closed.
     */
    private <T> T remotely(String what, BlobKey key, RemoteCall<T> call) throws IOException {
        CompletableFuture<T> answer = new CompletableFuture<>();
        Thread caller = Thread.ofVirtual().name("tier-remote-call").start(() -> {
            try {
                answer.complete(call.run());
            } catch (Throwable e) {
                answer.completeExceptionally(e);
            }
        });
        try {
            return answer.get(settings.remoteTimeout().toNanos(), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            caller.interrupt();
            answer.thenAccept(TieredBlobStore::closeIfStream);
            counts.get(Tier.REMOTE).degraded.increment();
            throw new BackendUnavailableException("the " + remote.backendName() + " backend did not answer " + what + " "
                    + key + " within " + settings.remoteTimeout().toMillis() + " ms, and no local tier holds it");
        } catch (ExecutionException e) {
            Throwable failure = e.getCause();
            if (failure instanceof BlobNotFoundException missing) {
                throw missing;
            }
            counts.get(Tier.REMOTE).degraded.increment();
            if (failure instanceof BackendUnavailableException unavailable) {
                throw unavailable;
            }
            throw new BackendUnavailableException("the " + remote.backendName() + " backend failed " + what + " " + key
                    + ", and no local tier holds it: " + failure.getMessage(), failure);
        } catch (InterruptedException e) {
            caller.interrupt();
            answer.thenAccept(TieredBlobStore::closeIfStream);
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while " + what + " " + key);
        }
    }

    private static void closeIfStream(Object answer) {
        if (answer instanceof InputStream stream) {
            try {
                stream.close();
            } catch (IOException e) {
                LOG.debug("closing a remote stream opened too late failed", e);
            }
        }
    }

    @Override
    public Optional<BlobInfo> stat(BlobKey key) throws IOException {
        if (memory != null) {
            Cached cached = memory.getIfPresent(key);
            if (cached != null) {
                return Optional.of(cached.info());
            }
        }
        if (disk != null) {
            Optional<BlobInfo> onDisk = disk.lookup(key);
            if (onDisk.isPresent()) {
                return onDisk;
            }
        }
        return remotely("looking up", key, () -> remote.stat(key));
    }

    @Override
    public Iterator<BlobInfo> list(String prefix, BlobKey startAfter) throws IOException {
        return remote.list(prefix, startAfter);
    }

    // ---------------------------------------------------------------- writing

    @Override
    public BlobInfo put(BlobKey key, InputStream data, long length, WriteMode mode) throws IOException {
        long generation = invalidate(key);
        Capture capture = memory != null && length <= settings.memoryMaxEntryBytes() ? new Capture(data) : null;
        BlobInfo stored = null;
        try {
            stored = remote.put(key, capture != null ? capture : data, length, mode);
            return stored;
        } finally {
            Cached cached = stored != null && capture != null ? capture.cached(stored) : null;
            invalidateAndPublishIfUnchanged(key, generation, cached);
            announcement.wrote(List.of(key));
        }
    }

    @Override
    public boolean delete(BlobKey key) throws IOException {
        long generation = invalidate(key);
        try {
            return remote.delete(key);
        } finally {
            invalidateAndPublishIfUnchanged(key, generation, null);
            announcement.wrote(List.of(key));
        }
    }

    /**
     * Like {@link #delete} of each key, with the backend's removals made durable together (the
     * filesystem syncs each directory once): without it, an eviction of 1M entries synced a
     * directory per entry.
     */
    @Override
    public int deleteAll(List<BlobKey> keys) throws IOException {
        long[] generations = new long[keys.size()];
        for (int i = 0; i < keys.size(); i++) {
            generations[i] = invalidate(keys.get(i));
        }
        try {
            return remote.deleteAll(keys);
        } finally {
            for (int i = 0; i < keys.size(); i++) {
                invalidateAndPublishIfUnchanged(keys.get(i), generations[i], null);
            }
            announcement.wrote(List.copyOf(keys));
        }
    }

    /** Drops {@code key} from every tier and from fills in flight; returns the stripe's new generation. */
    private long invalidate(BlobKey key) {
        int stripe = stripe(key);
        locks[stripe].lock();
        try {
            long generation = generations.incrementAndGet(stripe);
            dropLocal(key);
            return generation;
        } finally {
            locks[stripe].unlock();
        }
    }

    /**
     * After a write: drops {@code key} from every tier again and, when no other write of the
     * stripe came between (so {@code cached} is certainly the remote's blob now), keeps
     * {@code cached} in memory.
     */
    private void invalidateAndPublishIfUnchanged(BlobKey key, long generation, Cached cached) {
        int stripe = stripe(key);
        locks[stripe].lock();
        try {
            boolean alone = generations.get(stripe) == generation;
            generations.incrementAndGet(stripe);
            dropLocal(key);
            if (alone && cached != null) {
                memory.put(key, cached);
                counts.get(Tier.MEMORY).fills.increment();
            }
        } finally {
            locks[stripe].unlock();
        }
    }

    private void dropLocal(BlobKey key) {
        if (memory != null) {
            memory.invalidate(key);
        }
        if (disk != null) {
            try {
                disk.remove(key);
            } catch (IOException e) {
                // The index no longer has it, so it is never served; only its file stays behind.
                counts.get(Tier.DISK).degraded.increment();
                LOG.warn("the cache disk tier could not delete its copy of {}: {}", key, e.getMessage());
            }
        }
    }

    private interface Publication {
        void run() throws IOException;
    }

    /** Runs {@code publish} unless a write of the stripe happened since {@code generation} was read. */
    private void publishIfUnchanged(BlobKey key, long generation, Publication publish) throws IOException {
        int stripe = stripe(key);
        locks[stripe].lock();
        try {
            if (generations.get(stripe) == generation) {
                publish.run();
            }
        } finally {
            locks[stripe].unlock();
        }
    }

    private long generation(BlobKey key) {
        return generations.get(stripe(key));
    }

    private static int stripe(BlobKey key) {
        return Math.floorMod(key.hashCode() * 0x9E3779B9, STRIPES);
    }

    private static InputStream slice(byte[] bytes, ByteRange range) {
        int offset = (int) Math.min(range.offset(), bytes.length);
        return new ByteArrayInputStream(bytes, offset, (int) range.lengthWithin(bytes.length));
    }

    /** Empties the memory tier and stops the disk tier's scan; the disk tier's files stay for the next start, the remote stays open (it is the caller's). */
    @Override
    public void close() throws IOException {
        if (memory != null) {
            memory.invalidateAll();
        }
        if (disk != null) {
            disk.close();
        }
    }

    // ---------------------------------------------------------------- streams

    /**
     * A blob read whole from the remote on its way to the caller, teed into a staging file of the
     * disk tier and, when small, into memory; published to them only at its end, whole and of the
     * length the remote reported. A failure of the disk degrades the disk tier, never the read.
     */
    private final class Fill extends InputStream {
        private final BlobInfo info;
        private final long generation;
        private final InputStream in;
        private ByteArrayOutputStream captured;
        private Path staged;
        private FileChannel stagedChannel;
        private long total;
        private boolean ended;

        Fill(BlobInfo info, long generation, InputStream in, boolean capture, Path staged) {
            this.info = info;
            this.generation = generation;
            this.in = in;
            this.captured = capture ? new ByteArrayOutputStream((int) info.size()) : null;
            this.staged = staged;
            if (staged != null) {
                try {
                    stagedChannel = FileChannel.open(staged, StandardOpenOption.WRITE);
                } catch (IOException e) {
                    diskFailed(e);
                }
            }
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            Objects.checkFromIndexSize(offset, length, buffer.length);
            if (ended) {
                return -1;
            }
            if (length == 0) {
                return 0;
            }
            int n;
            try {
                n = in.read(buffer, offset, length);
            } catch (IOException | RuntimeException e) {
                abandon();
                throw e;
            }
            if (n < 0) {
                end();
                return -1;
            }
            total += n;
            if (total > info.size()) {
                abandon();
                throw new IOException("the " + remote.backendName() + " backend sent more than the " + info.size()
                        + " bytes it reported for " + info.key() + " (was it replaced meanwhile?); read it again");
            }
            if (captured != null) {
                captured.write(buffer, offset, n);
            }
            if (stagedChannel != null) {
                try {
                    ByteBuffer chunk = ByteBuffer.wrap(buffer, offset, n);
                    while (chunk.hasRemaining()) {
                        stagedChannel.write(chunk);
                    }
                } catch (IOException e) {
                    diskFailed(e);
                }
            }
            return n;
        }

        @Override
        public int available() throws IOException {
            return ended ? 0 : in.available();
        }

        /** The remote's stream ended: fail a short blob, publish a whole one. */
        private void end() throws IOException {
            if (total != info.size()) {
                abandon();
                throw new IOException("the " + remote.backendName() + " backend ended " + info.key() + " after " + total
                        + " of its " + info.size() + " bytes; the read is incomplete, read it again");
            }
            ended = true;
            Cached cached = captured == null ? null : new Cached(captured.toByteArray(), info);
            captured = null;
            closeStaging();
            Path whole = staged;
            staged = null;
            publishIfUnchanged(info.key(), generation, () -> {
                if (cached != null) {
                    memory.put(info.key(), cached);
                    counts.get(Tier.MEMORY).fills.increment();
                }
                if (whole != null) {
                    try {
                        disk.publish(info, whole);
                        counts.get(Tier.DISK).fills.increment();
                    } catch (IOException e) {
                        counts.get(Tier.DISK).degraded.increment();
                        LOG.warn("the cache disk tier could not keep {}: {}", info.key(), e.getMessage());
                    }
                }
            });
            deleteStaged(whole);
        }

        /** Drops what was teed so far: the blob is not whole. */
        private void abandon() {
            ended = true;
            captured = null;
            closeStaging();
            deleteStaged(staged);
            staged = null;
        }

        private void diskFailed(IOException e) {
            counts.get(Tier.DISK).degraded.increment();
            LOG.warn("the cache disk tier cannot take {}; serving it from the remote only: {}", info.key(), e.getMessage());
            closeStaging();
            deleteStaged(staged);
            staged = null;
        }

        private void closeStaging() {
            if (stagedChannel != null) {
                try {
                    stagedChannel.close();
                } catch (IOException e) {
                    LOG.debug("closing a staging file failed", e);
                }
                stagedChannel = null;
            }
        }

        private void deleteStaged(Path file) {
            if (file != null) {
                try {
                    Files.deleteIfExists(file);
                } catch (IOException e) {
                    LOG.debug("deleting a staging file failed", e);
                }
            }
        }

        /** A caller that stops before the end drops the fill: the tiers get only whole blobs read by someone. */
        @Override
        public void close() throws IOException {
            if (!ended) {
                abandon();
            }
            in.close();
        }
    }

    /**
     * The caller's upload on its way to the remote, copied up to the memory tier's largest entry
     * (a bigger one stops being copied, so no big blob is held on the heap).
     */
    private final class Capture extends InputStream {
        private final InputStream in;
        private ByteArrayOutputStream copy = new ByteArrayOutputStream();

        Capture(InputStream in) {
            this.in = in;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] buffer, int offset, int length) throws IOException {
            int n = in.read(buffer, offset, length);
            if (n > 0 && copy != null) {
                if (copy.size() + n > settings.memoryMaxEntryBytes()) {
                    copy = null;
                } else {
                    copy.write(buffer, offset, n);
                }
            }
            return n;
        }

        @Override
        public int available() throws IOException {
            return in.available();
        }

        /** The captured blob as stored, or null when it was too big or is not what the remote stored. */
        Cached cached(BlobInfo stored) {
            return copy != null && copy.size() == stored.size() ? new Cached(copy.toByteArray(), stored) : null;
        }
    }
}
