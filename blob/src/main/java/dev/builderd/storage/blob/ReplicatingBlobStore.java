package dev.builderd.storage.blob;

import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * A primary store with an asynchronous replica: every write and delete goes to the primary alone
 * and, for the keys {@code replicated} accepts, is noted in a {@link ReplicationJournal} before and
 * after (see its contract), from which a replication worker brings the secondary up to date. This
 * store never writes to the secondary itself.
 *
 * <p>Reads go to the primary. When the primary fails fast with {@link BackendUnavailableException}
 * (its circuit breaker is open, say), {@link #open} and {@link #stat} answer from the secondary
 * instead, where it has the blob: it may lag behind the primary, so its copy can be older, and a
 * blob it lacks may well be in the primary — that answer is the primary's failure, never "not
 * found", so that no caller deletes or forgets anything on the replica's word. For the same
 * reason {@link #list} does not fall back: the maintenance jobs compare listings with the
 * metadata and would act on the replica's stale view. Writes and deletes never fall back: they
 * fail as the primary fails.
 *
 * <p>It passes the local-file capabilities of the primary through ({@link FileChannelReads},
 * {@link FileAdoption}), so that a filesystem primary keeps its fast paths.
 */
public final class ReplicatingBlobStore implements BlobStore, FileChannelReads, FileAdoption {

    private final BlobStore primary;
    private final BlobStore secondary;
    private final Predicate<BlobKey> replicated;
    private final ReplicationJournal journal;

    /**
     * @param replicated which keys are replicated; the others live in the primary alone
     */
    public ReplicatingBlobStore(BlobStore primary, BlobStore secondary, Predicate<BlobKey> replicated, ReplicationJournal journal) {
        this.primary = primary;
        this.secondary = secondary;
        this.replicated = replicated;
        this.journal = journal;
    }

    /** The store written to and read from first. */
    public BlobStore primary() {
        return primary;
    }

    /** The replica the worker copies to, and reads fall back to. */
    public BlobStore secondary() {
        return secondary;
    }

    /** Whether blobs under {@code key} are replicated. */
    public boolean replicates(BlobKey key) {
        return replicated.test(key);
    }

    @Override
    public BlobInfo put(BlobKey key, InputStream data, long length, WriteMode mode) throws IOException {
        if (!replicated.test(key)) {
            return primary.put(key, data, length, mode);
        }
        journal.changing(key, Math.max(length, 0));
        BlobInfo stored = primary.put(key, data, length, mode);
        journal.changing(key, stored.size());
        return stored;
    }

    @Override
    public BlobInfo adopt(BlobKey key, Path file) throws IOException {
        if (!(primary instanceof FileAdoption adoption)) {
            throw new AtomicMoveNotSupportedException(file.toString(), null, "the " + primary.backendName() + " store keeps no local files");
        }
        if (!replicated.test(key)) {
            return adoption.adopt(key, file);
        }
        journal.changing(key, 0);
        BlobInfo stored = adoption.adopt(key, file);
        journal.changing(key, stored.size());
        return stored;
    }

    @Override
    public boolean delete(BlobKey key) throws IOException {
        if (!replicated.test(key)) {
            return primary.delete(key);
        }
        journal.changing(key, 0);
        boolean removed = primary.delete(key);
        journal.changing(key, 0);
        return removed;
    }

    @Override
    public int deleteAll(List<BlobKey> keys) throws IOException {
        List<BlobKey> noted = keys.stream().filter(replicated).toList();
        if (!noted.isEmpty()) {
            journal.changingAll(noted);
        }
        int removed = primary.deleteAll(keys);
        if (!noted.isEmpty()) {
            journal.changingAll(noted);
        }
        return removed;
    }

    @Override
    public InputStream open(BlobKey key, ByteRange range) throws IOException {
        try {
            return primary.open(key, range);
        } catch (BackendUnavailableException down) {
            return fallBack(down, () -> secondary.open(key, range));
        }
    }

    @Override
    public Optional<BlobInfo> stat(BlobKey key) throws IOException {
        try {
            return primary.stat(key);
        } catch (BackendUnavailableException down) {
            Optional<BlobInfo> replica = fallBack(down, () -> secondary.stat(key));
            if (replica.isEmpty()) {
                throw down;
            }
            return replica;
        }
    }

    @Override
    public Iterator<BlobInfo> list(String prefix, BlobKey startAfter) throws IOException {
        return primary.list(prefix, startAfter);
    }

    @Override
    public Optional<FileChannel> openChannel(BlobKey key) throws IOException {
        return primary instanceof FileChannelReads files ? files.openChannel(key) : Optional.empty();
    }

    @Override
    public String backendName() {
        return primary.backendName();
    }

    private interface Read<T> {
        T run() throws IOException;
    }

    /**
     * The secondary's answer; if it fails too, or has no such blob, the primary's failure, with
     * the secondary's attached.
     */
    private static <T> T fallBack(BackendUnavailableException primaryDown, Read<T> read) throws IOException {
        try {
            return read.run();
        } catch (IOException | RuntimeException secondaryFailed) {
            primaryDown.addSuppressed(secondaryFailed);
            throw primaryDown;
        }
    }
}
