package dev.builderd.storage.blob;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The local disk tier of a {@link TieredBlobStore}: whole blobs as files of a {@link FileBlobStore}
 * under {@code directory/blobs}, bounded by bytes and evicted least recently used first.
 *
 * <p>Only blobs in the in-memory index are served, so that a file is never read before it is
 * known whole and a blob dropped from the index is gone at once, whatever happens to its file.
 * After a restart the index is rebuilt by a background scan of the files: serving does not wait
 * for it; a file counts (and is served) once the scan has found it.
 *
 * <p>A blob arrives as a staging file under {@code directory/staging-<pid>-<id>}, private to this
 * instance, and is published by renaming it into the store only when it is whole
 * ({@link #publish}); the scan removes the staging directories of processes that are gone.
 */
final class DiskTier implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(DiskTier.class);
    private static final String STAGING_PREFIX = "staging-";

    private final FileBlobStore files;
    private final Path directory;
    private final Path staging;
    private final long maxBytes;
    private final AtomicLong stagedFiles = new AtomicLong();
    /** Access-ordered: the eldest entry is the least recently used. Guarded by {@code this}. */
    private final LinkedHashMap<BlobKey, BlobInfo> index = new LinkedHashMap<>(1024, 0.75f, true);
    private long bytes;
    /**
     * Keys removed while the start-up scan runs: the scan may have listed a key's file just before
     * it was deleted, and must not index it afterwards. Null once the scan is over. Guarded by {@code this}.
     */
    private Set<BlobKey> removedWhileScanning = new HashSet<>();
    private final Thread scan;

    /** Opens the tier under {@code directory} (created if needed) and starts the background scan. */
    DiskTier(Path directory, long maxBytes) throws IOException {
        this.directory = Files.createDirectories(directory).toAbsolutePath().normalize();
        this.files = new FileBlobStore(this.directory.resolve("blobs"));
        this.staging = Files.createDirectory(this.directory.resolve(STAGING_PREFIX + ProcessHandle.current().pid() + "-" + UUID.randomUUID()),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        this.maxBytes = maxBytes;
        this.scan = Thread.ofVirtual().name("cache-disk-tier-scan").start(this::scan);
    }

    long maxBytes() {
        return maxBytes;
    }

    synchronized long bytes() {
        return bytes;
    }

    /** Whether a blob of {@code size} bytes can be kept at all. */
    boolean fits(long size) {
        return size <= maxBytes;
    }

    /** What the tier holds under {@code key}, if anything; counts as a use for LRU. */
    synchronized Optional<BlobInfo> lookup(BlobKey key) {
        return Optional.ofNullable(index.get(key));
    }

    /** Opens a blob that {@link #lookup} found; {@link BlobNotFoundException} if its file is gone meanwhile. */
    InputStream open(BlobKey key, ByteRange range) throws IOException {
        return files.open(key, range);
    }

    /** A fresh, empty staging file for one blob on its way in. */
    Path stage() throws IOException {
        return Files.createFile(staging.resolve(stagedFiles.incrementAndGet() + ".partial"),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    }

    /**
     * Moves the whole blob {@code staged} (exactly {@code info.size()} bytes) into the tier under
     * {@code info.key()}, stamped with the remote's modification time so that the tier answers
     * {@code stat} like the remote, and evicts the least recently used blobs beyond the bound.
     */
    void publish(BlobInfo info, Path staged) throws IOException {
        Files.setLastModifiedTime(staged, FileTime.from(info.lastModified()));
        files.adopt(info.key(), staged);
        List<BlobKey> evicted = new ArrayList<>();
        synchronized (this) {
            index(info);
            Iterator<Map.Entry<BlobKey, BlobInfo>> eldest = index.entrySet().iterator();
            while (bytes > maxBytes && eldest.hasNext()) {
                Map.Entry<BlobKey, BlobInfo> victim = eldest.next();
                if (!victim.getKey().equals(info.key())) {
                    bytes -= victim.getValue().size();
                    evicted.add(victim.getKey());
                    eldest.remove();
                }
            }
        }
        // Outside the lock: a reader that has the file open keeps reading it after it is unlinked.
        for (BlobKey key : evicted) {
            deleteFile(key);
        }
    }

    /** Drops {@code key} from the tier: unservable at once, its file deleted. */
    void remove(BlobKey key) throws IOException {
        forget(key);
        files.delete(key);
    }

    /** Forgets an entry whose file turned out missing or different (removed behind the tier's back). */
    synchronized void forget(BlobKey key) {
        BlobInfo removed = index.remove(key);
        if (removed != null) {
            bytes -= removed.size();
        }
        if (removedWhileScanning != null) {
            removedWhileScanning.add(key);
        }
    }

    /**
     * Drops every blob: stops the start-up scan (so it indexes nothing after this), empties the
     * index and deletes the files. A reader with a file open keeps reading it.
     */
    void clear() throws IOException {
        stopScan();
        synchronized (this) {
            index.clear();
            bytes = 0;
        }
        Iterator<BlobInfo> stored = files.list("", null);
        while (stored.hasNext()) {
            files.delete(stored.next().key());
        }
    }

    /** Adds or replaces an index entry. Caller holds the lock. */
    private void index(BlobInfo info) {
        BlobInfo previous = index.put(info.key(), info);
        bytes += info.size() - (previous == null ? 0 : previous.size());
    }

    private void deleteFile(BlobKey key) {
        try {
            files.delete(key);
        } catch (IOException e) {
            LOG.warn("the cache disk tier could not delete the evicted {}: {}", key, e.getMessage());
        }
    }

    /** Removes earlier processes' staging files and indexes the blobs that the files hold. */
    private void scan() {
        try {
            removeOtherStagingDirectories();
            Iterator<BlobInfo> found = files.list("", null);
            long count = 0;
            while (found.hasNext() && !Thread.currentThread().isInterrupted()) {
                BlobInfo info = found.next();
                synchronized (this) {
                    if (!index.containsKey(info.key()) && !removedWhileScanning.contains(info.key())) {
                        index(info);
                        count++;
                    }
                }
            }
            LOG.info("the cache disk tier under {} holds {} blob(s) found on disk, {} bytes in all", directory, count, bytes());
            evictBeyondBound();
        } catch (IOException | UncheckedIOException e) {
            LOG.warn("scanning the cache disk tier under {} failed: {}; unscanned files are not served", directory, e.getMessage());
        } finally {
            synchronized (this) {
                removedWhileScanning = null;
            }
        }
    }

    private void evictBeyondBound() {
        List<BlobKey> evicted = new ArrayList<>();
        synchronized (this) {
            Iterator<Map.Entry<BlobKey, BlobInfo>> eldest = index.entrySet().iterator();
            while (bytes > maxBytes && eldest.hasNext()) {
                Map.Entry<BlobKey, BlobInfo> victim = eldest.next();
                bytes -= victim.getValue().size();
                evicted.add(victim.getKey());
                eldest.remove();
            }
        }
        evicted.forEach(this::deleteFile);
    }

    /** Removes the staging directories of processes that are gone (a live one may be a tool looking at the same tier). */
    private void removeOtherStagingDirectories() throws IOException {
        try (DirectoryStream<Path> children = Files.newDirectoryStream(directory, STAGING_PREFIX + "*")) {
            for (Path child : children) {
                if (!child.equals(staging) && !ownerIsAlive(child.getFileName().toString())) {
                    deleteTree(child);
                }
            }
        }
    }

    private static boolean ownerIsAlive(String stagingName) {
        String rest = stagingName.substring(STAGING_PREFIX.length());
        int dash = rest.indexOf('-');
        try {
            long pid = Long.parseLong(dash < 0 ? rest : rest.substring(0, dash));
            return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
        } catch (NumberFormatException e) {
            return false;
        }
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path path : (Iterable<Path>) paths.sorted(Comparator.reverseOrder())::iterator) {
                Files.deleteIfExists(path);
            }
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
    }

    /** Stops the scan and removes this instance's staging files; the published blobs stay for the next start. */
    @Override
    public void close() throws IOException {
        stopScan();
        deleteTree(staging);
    }

    private void stopScan() {
        scan.interrupt();
        try {
            scan.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
