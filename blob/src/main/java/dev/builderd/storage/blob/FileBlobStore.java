package dev.builderd.storage.blob;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link BlobStore} on a local (or network-mounted) POSIX filesystem: the key
 * {@code a/b/c} is the file {@code root/a/b/c}.
 *
 * <p>A put writes a temporary file beside the target, fsyncs it, renames it into place (or, for
 * {@link WriteMode#CREATE_NEW}, hard-links it, which fails atomically when the target exists) and
 * fsyncs the directory. Temporary files carry the ID of the process that writes them; {@link
 * #sweepAbandonedUploads()} removes those of other processes, which a crash left behind (so one
 * root must not be shared by two live processes).
 *
 * <p>The store never follows a symbolic link: a key whose path crosses a link (planted, say, by a
 * build process that can write in the tree) is refused, and links are not listed. Directories it
 * creates are {@code 0700}, files it stores or adopts {@code 0600}.
 *
 * <p>Because keys become paths, a key cannot be stored while another blob's key is one of its
 * directories ({@code a} and {@code a/b}); such a put fails with a {@link BlobKeyConflictException}. Names of
 * segments starting with {@code .~builderd-} are reserved for temporary files.
 */
public final class FileBlobStore implements BlobStore, FileAdoption, FileChannelReads {

    private static final Logger LOG = LoggerFactory.getLogger(FileBlobStore.class);
    private static final String TEMP_PREFIX = ".~builderd-";
    private static final String TEMP_SUFFIX = ".partial";
    private static final int COPY_BUFFER = 1 << 20;
    /** How much an upload writes between two early writebacks (see {@link #startWriteback}). */
    private static final long WRITEBACK_BYTES = 32L << 20;
    private static final Executor WRITEBACK = task -> Thread.ofVirtual().name("writeback").start(task);
    /** Names this process's temporary files, so that a sweep can tell a dead process's apart. */
    private static final String PROCESS_TAG = ProcessHandle.current().pid() + "."
            + Long.toString(ProcessHandle.current().info().startInstant().map(Instant::toEpochMilli).orElse(0L), 36);
    private static final FileAttribute<Set<PosixFilePermission>> DIRECTORY_MODE =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"));
    private static final FileAttribute<Set<PosixFilePermission>> FILE_MODE =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"));

    private final Path root;
    private final AtomicLong tempCounter = new AtomicLong();

    /** Opens (creating if needed) the store rooted at {@code root}. */
    public FileBlobStore(Path root) throws IOException {
        Files.createDirectories(root, DIRECTORY_MODE);
        this.root = root.toAbsolutePath().normalize();
    }

    /** The directory this store keeps its blobs under. */
    public Path root() {
        return root;
    }

    @Override
    public String backendName() {
        return "filesystem";
    }

    @Override
    public BlobInfo put(BlobKey key, InputStream data, long length, WriteMode mode) throws IOException {
        Path target = writablePathOf(key);
        Path directory = createParentDirectories(key);
        Path temp = directory.resolve(TEMP_PREFIX + PROCESS_TAG + "-" + tempCounter.incrementAndGet() + TEMP_SUFFIX);
        boolean published = false;
        try {
            long written = writeDurably(key, data, length, temp);
            publish(key, temp, target, mode);
            published = true;
            fsyncDirectory(directory);
            return new BlobInfo(key, written, Files.getLastModifiedTime(target, LinkOption.NOFOLLOW_LINKS).toInstant());
        } finally {
            if (!published || mode == WriteMode.CREATE_NEW) {
                Files.deleteIfExists(temp);
            }
        }
    }

    private static long writeDurably(BlobKey key, InputStream data, long length, Path temp) throws IOException {
        try (FileChannel out = FileChannel.open(temp, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
                LinkOption.NOFOLLOW_LINKS), FILE_MODE)) {
            // One byte more than a known length, so that a longer body shows.
            byte[] buffer = new byte[(int) (length >= 0 ? Math.min(COPY_BUFFER, length + 1) : COPY_BUFFER)];
            ByteBuffer wrapped = ByteBuffer.wrap(buffer);
            CompletableFuture<Void> writeback = CompletableFuture.completedFuture(null);
            long total = 0;
            long unflushed = 0;
            int n;
            while ((n = data.readNBytes(buffer, 0, buffer.length)) > 0) {
                total += n;
                if (length >= 0 && total > length) {
                    throw new UploadLengthMismatchException(key, length, length + 1);
                }
                wrapped.clear().limit(n);
                while (wrapped.hasRemaining()) {
                    out.write(wrapped);
                }
                unflushed += n;
                if (unflushed >= WRITEBACK_BYTES && writeback.isDone()) {
                    unflushed = 0;
                    writeback = CompletableFuture.runAsync(() -> startWriteback(out), WRITEBACK);
                }
            }
            if (length >= 0 && total != length) {
                throw new UploadLengthMismatchException(key, length, total);
            }
            writeback.join();
            out.force(true);
            return total;
        }
    }

    /**
     * Flushes what is written so far while the upload goes on, so that the final fsync waits
     * only for the tail instead of the whole blob. A failure here is not reported: the final
     * fsync fails the same way.
     */
    private static void startWriteback(FileChannel out) {
        try {
            out.force(false);
        } catch (IOException e) {
            LOG.debug("early writeback failed; the final fsync will report it", e);
        }
    }

    private static void publish(BlobKey key, Path temp, Path target, WriteMode mode) throws IOException {
        if (mode == WriteMode.CREATE_NEW) {
            try {
                Files.createLink(target, temp);
            } catch (FileAlreadyExistsException e) {
                refuseDirectory(key, target);
                throw new BlobAlreadyExistsException(key);
            }
        } else {
            try {
                Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("cannot publish " + key + " atomically: " + e.getMessage(), e);
            } catch (FileSystemException e) {
                refuseDirectory(key, target);
                throw e;
            }
        }
    }

    /** Throws {@link BlobKeyConflictException} when {@code target} is a directory: the key is a prefix of other keys. */
    private static void refuseDirectory(BlobKey key, Path target) throws BlobKeyConflictException {
        if (Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS)) {
            throw new BlobKeyConflictException(key, "other blobs' keys start with " + key + "/");
        }
    }

    @Override
    public InputStream open(BlobKey key, ByteRange range) throws IOException {
        FileChannel channel = channel(key);
        try {
            channel.position(range.offset());
            InputStream in = Channels.newInputStream(channel);
            return range.length() == ByteRange.TO_END ? in : new LimitedInputStream(in, range.length());
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    @Override
    public Optional<FileChannel> openChannel(BlobKey key) throws IOException {
        return Optional.of(channel(key));
    }

    private FileChannel channel(BlobKey key) throws IOException {
        Path path = existingPathOf(key);
        if (path == null) {
            throw new BlobNotFoundException(key);
        }
        FileChannel channel;
        try {
            channel = FileChannel.open(path, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            throw new BlobNotFoundException(key);
        } catch (IOException e) {
            if (Files.isSymbolicLink(path) || Files.isDirectory(path, LinkOption.NOFOLLOW_LINKS)) {
                throw new BlobNotFoundException(key);
            }
            throw e;
        }
        if (!Files.isRegularFile(path, LinkOption.NOFOLLOW_LINKS)) {
            channel.close();
            throw new BlobNotFoundException(key);
        }
        return channel;
    }

    @Override
    public Optional<BlobInfo> stat(BlobKey key) throws IOException {
        Path path = existingPathOf(key);
        if (path == null) {
            return Optional.empty();
        }
        try {
            BasicFileAttributes attributes = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (!attributes.isRegularFile()) {
                return Optional.empty();
            }
            return Optional.of(new BlobInfo(key, attributes.size(), attributes.lastModifiedTime().toInstant()));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
    }

    @Override
    public boolean delete(BlobKey key) throws IOException {
        Path parent = unlink(key);
        if (parent != null) {
            fsyncDirectory(parent);
        }
        return parent != null;
    }

    /** Unlinks every blob, then syncs each directory they were in once. */
    @Override
    public int deleteAll(java.util.List<BlobKey> keys) throws IOException {
        java.util.Set<Path> parents = new java.util.LinkedHashSet<>();
        int removed = 0;
        for (BlobKey key : keys) {
            Path parent = unlink(key);
            if (parent != null) {
                parents.add(parent);
                removed++;
            }
        }
        for (Path parent : parents) {
            fsyncDirectory(parent);
        }
        return removed;
    }

    /** Removes the blob's file, not durably yet; returns its directory, or null if there was no blob. */
    private Path unlink(BlobKey key) throws IOException {
        Path path = existingPathOf(key);
        if (path == null) {
            return null;
        }
        try {
            BasicFileAttributes attributes = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (!attributes.isRegularFile()) {
                return null;
            }
        } catch (NoSuchFileException e) {
            return null;
        }
        return Files.deleteIfExists(path) ? path.getParent() : null;
    }

    @Override
    public Iterator<BlobInfo> list(String prefix, BlobKey startAfter) throws IOException {
        return new SortedWalk(prefix, startAfter == null ? null : startAfter.value());
    }

    @Override
    public BlobInfo adopt(BlobKey key, Path file) throws IOException {
        Path target = writablePathOf(key);
        Path directory = createParentDirectories(key);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS)) {
            channel.force(true);
        }
        try {
            Files.move(file, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            throw e; // the caller copies instead
        } catch (FileSystemException e) {
            refuseDirectory(key, target);
            throw e;
        }
        Files.getFileAttributeView(target, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS)
                .setPermissions(FILE_MODE.value());
        fsyncDirectory(directory);
        fsyncDirectory(file.getParent());
        BasicFileAttributes attributes = Files.readAttributes(target, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        return new BlobInfo(key, attributes.size(), attributes.lastModifiedTime().toInstant());
    }

    /**
     * Removes the temporary files of uploads that an earlier process left behind when it died.
     * Safe to run while this process serves: its own uploads are kept.
     *
     * @return how many files were removed
     */
    public long sweepAbandonedUploads() throws IOException {
        String ours = TEMP_PREFIX + PROCESS_TAG + "-";
        long removed = 0;
        try (Stream<Path> files = Files.walk(root)) {
            for (Path file : (Iterable<Path>) files::iterator) {
                String name = file.getFileName().toString();
                if (name.startsWith(TEMP_PREFIX) && name.endsWith(TEMP_SUFFIX) && !name.startsWith(ours)
                        && Files.isRegularFile(file, LinkOption.NOFOLLOW_LINKS) && Files.deleteIfExists(file)) {
                    removed++;
                }
            }
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        if (removed > 0) {
            LOG.info("removed {} temporary files of interrupted uploads under {}", removed, root);
        }
        return removed;
    }

    /** Whether a segment of the key is a name this store reserves for its temporary files. */
    private static boolean isReserved(BlobKey key) {
        return key.segments().stream().anyMatch(segment -> segment.startsWith(TEMP_PREFIX));
    }

    /** The key's path, for writing; refuses a key with a name reserved for temporary files. */
    private Path writablePathOf(BlobKey key) throws IOException {
        if (isReserved(key)) {
            throw new IOException("blob key " + key + " uses the prefix '" + TEMP_PREFIX
                    + "' that the filesystem store reserves for uploads in progress");
        }
        return root.resolve(key.value());
    }

    /**
     * The key's path, after checking that no directory on the way is a symbolic link; null when no
     * blob can be there: a directory on the way is missing or is a file (the key lies below
     * another blob), or the key names a temporary file.
     */
    private Path existingPathOf(BlobKey key) throws IOException {
        if (isReserved(key)) {
            return null;
        }
        List<String> segments = key.segments();
        Path current = root;
        for (String segment : segments.subList(0, segments.size() - 1)) {
            current = current.resolve(segment);
            BasicFileAttributes attributes;
            try {
                attributes = Files.readAttributes(current, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            } catch (NoSuchFileException e) {
                return null;
            }
            if (attributes.isSymbolicLink()) {
                throw new SymbolicLinkRefusedException(key);
            }
            if (!attributes.isDirectory()) {
                return null;
            }
        }
        return current.resolve(segments.get(segments.size() - 1));
    }

    /** Creates the directories of {@code key}'s parent below the root, refusing to pass through a symbolic link. */
    private Path createParentDirectories(BlobKey key) throws IOException {
        Path current = root;
        List<String> segments = key.segments();
        for (String segment : segments.subList(0, segments.size() - 1)) {
            Path next = current.resolve(segment);
            try {
                BasicFileAttributes attributes = Files.readAttributes(next, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                if (attributes.isSymbolicLink()) {
                    throw new SymbolicLinkRefusedException(key);
                }
                if (!attributes.isDirectory()) {
                    throw new BlobKeyConflictException(key, root.relativize(next) + " is a blob, not a directory");
                }
            } catch (NoSuchFileException e) {
                try {
                    Files.createDirectory(next, DIRECTORY_MODE);
                    fsyncDirectory(current);
                } catch (FileAlreadyExistsException raced) {
                    if (!Files.isDirectory(next, LinkOption.NOFOLLOW_LINKS)) {
                        throw raced;
                    }
                }
            }
            current = next;
        }
        return current;
    }

    private static void fsyncDirectory(Path directory) throws IOException {
        try (FileChannel channel = FileChannel.open(directory, StandardOpenOption.READ)) {
            channel.force(true);
        }
    }

    /** Walks the tree depth-first in key order, pruning directories outside the requested range. */
    private final class SortedWalk extends LazyIterator<BlobInfo> {
        private record Entry(String key, Path path, boolean directory) {
        }

        private static final Comparator<Entry> KEY_ORDER =
                (a, b) -> BlobKey.compareKeys(a.directory ? a.key + "/" : a.key, b.directory ? b.key + "/" : b.key);

        private final String prefix;
        private final String startAfter;
        private final Deque<Iterator<Entry>> stack = new ArrayDeque<>();

        SortedWalk(String prefix, String startAfter) throws IOException {
            this.prefix = prefix == null ? "" : prefix;
            this.startAfter = startAfter;
            stack.push(children(root, "").iterator());
        }

        @Override
        protected BlobInfo computeNext() throws IOException {
            while (!stack.isEmpty()) {
                Iterator<Entry> level = stack.peek();
                if (!level.hasNext()) {
                    stack.pop();
                    continue;
                }
                Entry entry = level.next();
                if (entry.directory) {
                    if (mayContainWanted(entry.key + "/")) {
                        stack.push(children(entry.path, entry.key + "/").iterator());
                    }
                } else if (entry.key.startsWith(prefix) && (startAfter == null || BlobKey.compareKeys(entry.key, startAfter) > 0)) {
                    BasicFileAttributes attributes;
                    try {
                        attributes = Files.readAttributes(entry.path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                    } catch (NoSuchFileException deletedMeanwhile) {
                        continue;
                    }
                    return new BlobInfo(new BlobKey(entry.key), attributes.size(), attributes.lastModifiedTime().toInstant());
                }
            }
            return null;
        }

        /** Whether keys starting with {@code directoryKey} can match the prefix and follow startAfter. */
        private boolean mayContainWanted(String directoryKey) {
            boolean prefixCompatible = directoryKey.startsWith(prefix) || prefix.startsWith(directoryKey);
            boolean afterStart = startAfter == null || startAfter.startsWith(directoryKey)
                    || BlobKey.compareKeys(directoryKey, startAfter) > 0;
            return prefixCompatible && afterStart;
        }

        private List<Entry> children(Path directory, String keyPrefix) throws IOException {
            List<Entry> entries = new ArrayList<>();
            try (DirectoryStream<Path> stream = Files.newDirectoryStream(directory)) {
                for (Path child : stream) {
                    String name = child.getFileName().toString();
                    if (name.startsWith(TEMP_PREFIX)) {
                        continue;
                    }
                    BasicFileAttributes attributes;
                    try {
                        attributes = Files.readAttributes(child, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                    } catch (NoSuchFileException deletedMeanwhile) {
                        continue;
                    }
                    if ((attributes.isDirectory() || attributes.isRegularFile()) && BlobKey.isValid(keyPrefix + name)) {
                        entries.add(new Entry(keyPrefix + name, child, attributes.isDirectory()));
                    }
                }
            } catch (NoSuchFileException e) {
                return List.of();
            }
            entries.sort(KEY_ORDER);
            return entries;
        }
    }
}
