package dev.builderd.storage.core.quota;

import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.Charset;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.concurrent.RecursiveAction;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Measures the disk space of directory trees that build processes write into directly (a build's
 * {@code workspace/}, {@code temp/} and {@code metadata/}), the way {@code du} does, but several
 * trees at once and in parallel. One instance owns a pool of {@code parallelism} threads; it is
 * safe to call {@link #measure} from several threads at once, and {@link #close} ends the pool.
 *
 * <h2>What is counted</h2>
 * <ul>
 * <li><b>Allocated bytes</b>: {@code st_blocks * 512} of every inode, as {@code du -sB1} counts
 * them: a sparse file counts only the blocks it really occupies, a file's unused tail block
 * counts in full. <b>Apparent bytes</b>: {@code st_size}, as {@code du -sb} counts them. Both
 * include the directories themselves (each root too) and symbolic links (their own inode: the
 * length of the target's name, or nothing allocated for a link stored in its inode).</li>
 * <li><b>Each inode once per call.</b> A file with several hard links ({@code st_nlink > 1}) is
 * counted once however many of its names lie under any of the roots, keyed by
 * {@code (st_dev, st_ino)}; directories are keyed likewise, so roots that overlap (one below
 * another, or the same directory by two paths) are counted once. Where the roots overlap, the
 * shared part is attributed in {@link Result#allocatedByRoot()} to whichever root's walk reached
 * it first.</li>
 * <li><b>Symbolic links are never followed</b>, neither below a root nor a root itself (a root
 * that is a link counts as that link). Every directory is opened relative to its already open
 * parent with {@code O_NOFOLLOW | O_DIRECTORY}, so a build that swaps a directory for a link to
 * somewhere else while the walk runs cannot redirect it, and trees deeper than {@code PATH_MAX}
 * are walked whole (a build could otherwise hide bytes there).</li>
 * <li><b>Mount points below a root are not entered and not counted</b> (like {@code du -x}).
 * Whatever is mounted there (a shared cache bind-mounted into a workspace, a tmpfs, another
 * tenant's volume) is not the bytes of this tree on this filesystem, and walking it could cost
 * an unbounded scan. A directory is a mount point when its mount ID ({@code statx}
 * {@code STATX_MNT_ID}, Linux 5.8 and later) differs from the root's, which also catches bind
 * mounts of the same filesystem; a btrfs subvolume (own {@code st_dev}, same mount) is
 * therefore walked, so a build cannot hide bytes in one. Where the mount ID is unavailable the
 * test is {@code st_dev} differing from the root's, as {@code du -x} does. A root may itself be
 * a mount point (a per-build volume): the filesystem of each root is the one measured.</li>
 * <li><b>Concurrent changes are tolerated.</b> The builds keep writing while they are measured:
 * an entry that disappears between listing and {@code stat}, or a directory that disappears or
 * is replaced before it is opened, is skipped and counted in {@link Result#vanished()}; the
 * result is then what the trees held at some moment during the walk, per entry. A missing root
 * counts as zero (and appears in {@link Result#allocatedByRoot()} with 0).</li>
 * <li><b>What cannot be read is reported, not hidden.</b> A directory that cannot be opened or
 * listed, or an entry that cannot be {@code stat}ed, for a reason other than having vanished
 * (permissions, I/O errors) is counted in {@link Result#unreadable()}; the sums are then a lower
 * bound. Failures of the scanner itself (out of file descriptors or memory) throw instead.</li>
 * </ul>
 *
 * <h2>How</h2>
 * Each directory is read with {@code getdents64} into a per-thread native buffer and every entry
 * costs one {@code fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW)} system call, as {@code du} does;
 * subdirectories ({@code d_type}, or the stat when the filesystem does not fill it) become tasks
 * of the pool. Counting a file allocates nothing on the Java heap. The calls go through JNA
 * direct mapping to the C library: Java's file attributes do not expose {@code st_blocks}, and
 * the FFM API is a preview in Java 21. {@code struct stat} is read at the offsets of Linux
 * x86-64 and aarch64 (checked against glibc's headers with both compilers); on a glibc older
 * than 2.33, which exports no {@code fstatat}, its {@code __fxstatat} is called instead, and
 * before 2.30, without {@code getdents64}, the system call itself. Open directory descriptors
 * grow with the depth of the trees, not their width: a directory stays open until its
 * subdirectories have been opened. Other platforms (another OS or architecture, a C library
 * other than glibc) fail at construction with an {@link UnsupportedOperationException} that
 * says so.
 */
public final class DirectoryUsage implements AutoCloseable {

    /**
     * The sums of one {@link #measure} call over all its roots.
     *
     * @param allocatedBytes       disk space in use: {@code st_blocks * 512} of every inode counted
     * @param apparentBytes        {@code st_size} of every inode counted
     * @param files                inodes that are neither directories nor symbolic links (regular
     *                             files, and the rare fifo, socket or device node)
     * @param directories          directories, the roots included
     * @param symlinks             symbolic links (never followed)
     * @param hardLinksCountedOnce inodes with more than one link, counted once each however many of
     *                             their names were seen (they are included in {@code files} or
     *                             {@code symlinks})
     * @param mountPointsSkipped   directories below a root that belong to another mount: neither
     *                             entered nor counted
     * @param vanished             entries that disappeared (or were replaced) between being listed and
     *                             being examined, skipped
     * @param unreadable           directories or entries that could not be read (permissions, I/O
     *                             errors); when non-zero the sums are a lower bound
     * @param allocatedByRoot      {@code allocatedBytes} per root, in the order given; 0 for a
     *                             missing root
     */
    public record Result(long allocatedBytes, long apparentBytes, long files, long directories, long symlinks,
            long hardLinksCountedOnce, long mountPointsSkipped, long vanished, long unreadable,
            Map<Path, Long> allocatedByRoot) {

        public Result {
            allocatedByRoot = Collections.unmodifiableMap(new LinkedHashMap<>(allocatedByRoot));
        }
    }

    private final ForkJoinPool pool;
    private final Natives natives;

    /**
     * Starts the pool of {@code parallelism} threads (2 to 4 suit a machine of 2 to 8 cores: the
     * walk is mostly system calls).
     *
     * @throws IllegalArgumentException      if {@code parallelism < 1}
     * @throws UnsupportedOperationException on a platform other than Linux x86-64 or aarch64
     */
    public DirectoryUsage(int parallelism) {
        this(parallelism, Natives.detect());
    }

    /** For tests: {@code legacyLibc} uses the calls of glibc before 2.30 even where newer ones exist. */
    DirectoryUsage(int parallelism, boolean legacyLibc) {
        this(parallelism, legacyLibc ? Natives.legacy() : Natives.detect());
    }

    private DirectoryUsage(int parallelism, Natives natives) {
        if (parallelism < 1) {
            throw new IllegalArgumentException("parallelism must be at least 1, was " + parallelism);
        }
        this.natives = natives;
        AtomicInteger threads = new AtomicInteger();
        this.pool = new ForkJoinPool(parallelism,
                p -> new Worker(p, "builderd-directory-usage-" + threads.incrementAndGet()), null, false);
    }

    /**
     * Measures the trees under {@code roots} (directories, or single files or links; relative
     * paths resolve against the working directory), all in one walk: each inode is counted once
     * across all of them. Blocks until the walk is done.
     *
     * @throws IOException            if the scanner itself fails (no file descriptor or memory left,
     *                                a root path longer than {@code PATH_MAX})
     * @throws InterruptedIOException if the calling thread is interrupted (the walk is stopped;
     *                                the interrupt status is set again)
     * @throws IllegalStateException  after {@link #close}
     */
    public Result measure(List<Path> roots) throws IOException {
        if (pool.isShutdown()) {
            throw new IllegalStateException("this DirectoryUsage is closed");
        }
        Charset charset = Natives.FILE_NAME_CHARSET;
        List<Root> unique = new ArrayList<>();
        for (Path path : new LinkedHashSet<>(roots)) {
            unique.add(new Root(path, path.toAbsolutePath().toString().getBytes(charset)));
        }
        if (!unique.isEmpty()) {
            Scan scan = new Scan(natives);
            pool.execute(new StartTask(scan, unique));
            scan.awaitDone();
        }
        Counts sum = new Counts();
        Map<Path, Long> byRoot = new LinkedHashMap<>();
        for (Root root : unique) {
            root.total.addTo(sum);
            byRoot.put(root.path, root.total.allocated);
        }
        return new Result(sum.allocated, sum.apparent, sum.files, sum.directories, sum.symlinks, sum.hardLinks,
                sum.mountPoints, sum.vanished, sum.unreadable, byRoot);
    }

    /** Ends the pool, waiting for walks still running in other threads. */
    @Override
    public void close() {
        pool.close();
    }

    // ---------------------------------------------------------------------------------------------
    // The walk
    // ---------------------------------------------------------------------------------------------

    /** Counters; a task's own, then added into its root's total (under the root's lock). */
    private static final class Counts {
        long allocated;
        long apparent;
        long files;
        long directories;
        long symlinks;
        long hardLinks;
        long mountPoints;
        long vanished;
        long unreadable;

        void addTo(Counts total) {
            synchronized (total) {
                total.allocated += allocated;
                total.apparent += apparent;
                total.files += files;
                total.directories += directories;
                total.symlinks += symlinks;
                total.hardLinks += hardLinks;
                total.mountPoints += mountPoints;
                total.vanished += vanished;
                total.unreadable += unreadable;
            }
        }
    }

    /** One root of a call: its sums, and the filesystem its walk stays on (set by its own task). */
    private static final class Root {
        final Path path;
        final byte[] cPath;
        final Counts total = new Counts();
        long dev;
        long mountId = -1;

        Root(Path path, byte[] cPath) {
            this.path = path;
            this.cPath = cPath;
        }
    }

    /** One {@link #measure} call: the inodes seen, the tasks outstanding, the first failure. */
    private static final class Scan {
        final Natives natives;
        final Abi abi;
        final Set<Inode> seen = ConcurrentHashMap.newKeySet();
        final AtomicInteger pending = new AtomicInteger(1);
        final CountDownLatch done = new CountDownLatch(1);
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        volatile boolean stop;
        /**
         * Whether a root is a file or a link: then every inode goes through {@link #seen}, so that
         * root is not counted again where a directory root contains it (rare; costly only then).
         * Set before the directory walks are forked, so they all see it.
         */
        boolean rootFiles;

        Scan(Natives natives) {
            this.natives = natives;
            this.abi = natives.abi;
        }

        /** Whether the inode is seen for the first time in this call. */
        boolean first(long dev, long ino) {
            return seen.add(new Inode(dev, ino));
        }

        void fork(DirectoryTask task) {
            pending.incrementAndGet();
            task.fork();
        }

        /**
         * Counts into {@code counts} the inode whose stat is in the worker's buffer, unless this
         * call counted it already; a root is remembered whatever its link count. A directory is
         * counted only when {@code countDirectory}. Returns whether it is a directory to walk:
         * without {@code countDirectory} any directory (whoever walks it counts it), with it a
         * directory counted now for the first time.
         */
        boolean count(Worker w, Counts counts, boolean countDirectory, boolean root) {
            ByteBuffer stat = w.stat;
            int type = stat.getInt(abi.mode()) & Natives.S_IFMT;
            if (type == Natives.S_IFDIR && !countDirectory) {
                return true;
            }
            long links = abi.wideNlink() ? stat.getLong(abi.nlink()) : Integer.toUnsignedLong(stat.getInt(abi.nlink()));
            if (links > 1 || type == Natives.S_IFDIR || root || rootFiles) {
                if (!first(stat.getLong(abi.dev()), stat.getLong(abi.ino()))) {
                    return false;
                }
                if (links > 1 && type != Natives.S_IFDIR) {
                    counts.hardLinks++;
                }
            }
            if (type == Natives.S_IFDIR) {
                counts.directories++;
            } else if (type == Natives.S_IFLNK) {
                counts.symlinks++;
            } else {
                counts.files++;
            }
            counts.allocated += stat.getLong(abi.blocks()) * 512;
            counts.apparent += stat.getLong(abi.size());
            return type == Natives.S_IFDIR;
        }

        /** Counts a failure as unreadable; throws for the scanner's own (EMFILE, ENFILE, ENOMEM). */
        static void failed(Counts counts, int errno, Object where) throws IOException {
            if (errno == Natives.EMFILE || errno == Natives.ENFILE || errno == Natives.ENOMEM) {
                throw new IOException("measuring directory usage failed at " + where + ": "
                        + (errno == Natives.ENOMEM ? "out of memory (ENOMEM)"
                                : "out of file descriptors (" + (errno == Natives.EMFILE ? "EMFILE" : "ENFILE")
                                        + "); raise the open-files limit"));
            }
            counts.unreadable++;
        }

        void fail(Throwable t) {
            failure.compareAndSet(null, t);
            stop = true;
        }

        void taskDone() {
            if (pending.decrementAndGet() == 0) {
                done.countDown();
            }
        }

        void awaitDone() throws IOException {
            try {
                done.await();
            } catch (InterruptedException e) {
                stop = true;
                boolean finished = false;
                while (!finished) {
                    try {
                        done.await();
                        finished = true;
                    } catch (InterruptedException again) {
                        // keep waiting: the tasks stop at their next entry
                    }
                }
                Thread.currentThread().interrupt();
                throw new InterruptedIOException("interrupted while measuring directory usage");
            }
            Throwable t = failure.get();
            if (t instanceof IOException io) {
                throw new IOException(io.getMessage(), io);
            }
            if (t instanceof RuntimeException runtime) {
                throw runtime;
            }
            if (t instanceof Error error) {
                throw error;
            }
        }
    }

    private record Inode(long dev, long ino) {
    }

    /** A task of a {@link Scan}: counts into its own {@link Counts}, added to its root's at the end. */
    private abstract static class ScanTask extends RecursiveAction {
        final Scan scan;
        final Counts counts = new Counts();

        ScanTask(Scan scan) {
            this.scan = scan;
        }

        @Override
        protected final void compute() {
            try {
                if (!scan.stop) {
                    run((Worker) Thread.currentThread());
                }
            } catch (Throwable t) {
                scan.fail(t);
            } finally {
                scan.taskDone();
            }
        }

        abstract void run(Worker w) throws IOException;
    }

    /**
     * Stats every root (a single system call each), counts the roots that are not directories,
     * then forks the walk of each directory root.
     */
    private static final class StartTask extends ScanTask {
        private final List<Root> roots;

        StartTask(Scan scan, List<Root> roots) {
            super(scan);
            this.roots = roots;
        }

        @Override
        void run(Worker w) throws IOException {
            List<Root> directories = new ArrayList<>();
            for (Root root : roots) {
                Counts counts = new Counts();
                long path = w.cString(root.cPath, root.path);
                if (scan.natives.stat(Natives.AT_FDCWD, path, w.statAddress, Natives.AT_SYMLINK_NOFOLLOW) == 0) {
                    if (scan.count(w, counts, false, true)) {
                        directories.add(root);
                    } else {
                        scan.rootFiles = true;
                    }
                } else {
                    int errno = Native.getLastError();
                    if (errno != Natives.ENOENT && errno != Natives.ENOTDIR) { // missing: zero
                        Scan.failed(counts, errno, root.path);
                    }
                }
                counts.addTo(root.total);
            }
            for (Root root : directories) {
                scan.fork(new DirectoryTask(scan, root, null, null));
            }
        }
    }

    /**
     * An open directory. It stays open while subdirectory tasks still have to open their
     * directory relative to it: one reference for the listing, one per such task.
     */
    private static final class Directory {
        final int fd;
        final Directory parent;
        final byte[] name;
        final AtomicInteger references = new AtomicInteger(1);

        Directory(int fd, Directory parent, byte[] name) {
            this.fd = fd;
            this.parent = parent;
            this.name = name;
        }

        void retain() {
            references.incrementAndGet();
        }

        void release() {
            if (references.decrementAndGet() == 0) {
                Libc.close(fd);
            }
        }
    }

    /**
     * Opens, counts and lists one directory: a root ({@code parent == null}) or a subdirectory
     * named {@code name} in {@code parent}.
     */
    private static final class DirectoryTask extends ScanTask {
        private final Root root;
        private final Directory parent;
        private final byte[] name;

        DirectoryTask(Scan scan, Root root, Directory parent, byte[] name) {
            super(scan);
            this.root = root;
            this.parent = parent;
            this.name = name;
        }

        @Override
        void run(Worker w) throws IOException {
            try {
                if (parent == null) {
                    walkRoot(w);
                } else {
                    walkChild(w);
                }
            } finally {
                counts.addTo(root.total);
            }
        }

        private void walkRoot(Worker w) throws IOException {
            Natives n = scan.natives;
            long path = w.cString(root.cPath, root.path);
            int fd = Libc.openat(Natives.AT_FDCWD, path, n.openDirectoryFlags, 0);
            if (fd < 0) {
                int errno = Native.getLastError();
                if (errno == Natives.ENOTDIR || errno == Natives.ELOOP) {
                    // Replaced by a file or a link since the start task's stat: count what is there.
                    if (n.stat(Natives.AT_FDCWD, path, w.statAddress, Natives.AT_SYMLINK_NOFOLLOW) == 0) {
                        scan.count(w, counts, true, true);
                        return;
                    }
                    errno = Native.getLastError();
                }
                if (errno == Natives.ENOENT || errno == Natives.ENOTDIR) {
                    counts.vanished++;
                } else {
                    Scan.failed(counts, errno, root.path);
                }
                return;
            }
            if (fstat(w, fd) != 0) {
                return;
            }
            root.dev = w.stat.getLong(scan.abi.dev());
            root.mountId = n.mountId(fd, w);
            enter(w, fd);
        }

        private void walkChild(Worker w) throws IOException {
            Natives n = scan.natives;
            try {
                long nameAddress = w.cString(name, null);
                int fd = Libc.openat(parent.fd, nameAddress, n.openDirectoryFlags, 0);
                if (fd < 0) {
                    int errno = Native.getLastError();
                    if (errno == Natives.ENOENT) {
                        counts.vanished++;
                        return;
                    }
                    if (errno == Natives.ENOTDIR || errno == Natives.ELOOP) {
                        // Replaced by a file or a link since it was listed: count what is there now
                        // (a directory again, replaced twice meanwhile, is left to the next scan).
                        if (statEntry(w, parent, nameAddress)) {
                            counts.vanished++;
                        }
                        return;
                    }
                    Scan.failed(counts, errno, path());
                    // Not readable: count at least the directory's own inode.
                    if (n.stat(parent.fd, nameAddress, w.statAddress, Natives.AT_SYMLINK_NOFOLLOW) == 0) {
                        scan.count(w, counts, true, false);
                    }
                    return;
                }
                if (fstat(w, fd) != 0) {
                    return;
                }
                long mountId = root.mountId >= 0 ? n.mountId(fd, w) : -1;
                boolean foreign = mountId >= 0 ? mountId != root.mountId : w.stat.getLong(scan.abi.dev()) != root.dev;
                if (foreign) {
                    Libc.close(fd);
                    counts.mountPoints++;
                    return;
                }
                enter(w, fd);
            } finally {
                parent.release();
            }
        }

        /** fstat of a just opened directory into the worker's buffer; on failure closes it and returns the errno. */
        private int fstat(Worker w, int fd) throws IOException {
            if (scan.natives.stat(fd, Worker.EMPTY_STRING, w.statAddress, Natives.AT_EMPTY_PATH) == 0) {
                return 0;
            }
            int errno = Native.getLastError();
            Libc.close(fd);
            Scan.failed(counts, errno, path());
            return errno;
        }

        /** Counts the open directory {@code fd} (its stat in the worker's buffer) unless seen already, then lists it. */
        private void enter(Worker w, int fd) throws IOException {
            if (!scan.count(w, counts, true, false)) { // seen already: through another root
                Libc.close(fd);
                return;
            }
            Directory self = new Directory(fd, parent, name);
            try {
                list(w, self);
            } finally {
                self.release();
            }
        }

        private void list(Worker w, Directory self) throws IOException {
            Natives n = scan.natives;
            ByteBuffer dents = w.dents;
            while (!scan.stop) {
                long read = n.getdents(self.fd, w.dentsAddress, Worker.DENTS_BYTES);
                if (read <= 0) {
                    if (read < 0) {
                        int errno = Native.getLastError();
                        if (errno == Natives.ENOENT) {
                            counts.vanished++;
                        } else {
                            Scan.failed(counts, errno, path());
                        }
                    }
                    return;
                }
                int end = (int) read;
                for (int offset = 0; offset < end && !scan.stop; ) {
                    // struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16 @16, d_type u8 @18, d_name @19
                    int recordLength = dents.getShort(offset + 16) & 0xffff;
                    int type = dents.get(offset + 18);
                    int nameOffset = offset + 19;
                    offset += recordLength;
                    if (dents.get(nameOffset) == '.' && (dents.get(nameOffset + 1) == 0
                            || dents.get(nameOffset + 1) == '.' && dents.get(nameOffset + 2) == 0)) {
                        continue;
                    }
                    if (type == Natives.DT_DIR || statEntry(w, self, w.dentsAddress + nameOffset)) {
                        self.retain();
                        scan.fork(new DirectoryTask(scan, root, self, w.dentName(nameOffset, recordLength)));
                    }
                }
            }
        }

        /**
         * Stats the entry {@code nameAddress} (a C string) of {@code directory} and counts it;
         * returns true, without counting, when it is a directory (for the caller to walk).
         */
        private boolean statEntry(Worker w, Directory directory, long nameAddress) throws IOException {
            if (scan.natives.stat(directory.fd, nameAddress, w.statAddress, Natives.AT_SYMLINK_NOFOLLOW) == 0) {
                return scan.count(w, counts, false, false);
            }
            int errno = Native.getLastError();
            if (errno == Natives.ENOENT) {
                counts.vanished++;
            } else {
                Scan.failed(counts, errno, path());
            }
            return false;
        }

        /** The path of this task's directory, for messages. */
        private Path path() {
            List<byte[]> names = new ArrayList<>();
            if (name != null) {
                names.add(name);
            }
            for (Directory d = parent; d != null && d.name != null; d = d.parent) {
                names.add(d.name);
            }
            Path path = root.path;
            for (int i = names.size() - 1; i >= 0; i--) {
                path = path.resolve(new String(names.get(i), Natives.FILE_NAME_CHARSET));
            }
            return path;
        }
    }

    /** A pool thread with its native buffers: the directory listing, one stat, one C string. */
    private static final class Worker extends ForkJoinWorkerThread {
        static final int DENTS_BYTES = 64 * 1024;
        static final int C_STRING_BYTES = 4096;
        /** "" for the AT_EMPTY_PATH calls (a direct buffer starts zeroed); never written. */
        private static final ByteBuffer EMPTY = direct(8);
        static final long EMPTY_STRING = address(EMPTY);

        final ByteBuffer dents = direct(DENTS_BYTES);
        final long dentsAddress = address(dents);
        final ByteBuffer stat = direct(256);
        final long statAddress = address(stat);
        final ByteBuffer statx = direct(256);
        final long statxAddress = address(statx);
        final ByteBuffer string = direct(C_STRING_BYTES);
        final long stringAddress = address(string);

        Worker(ForkJoinPool pool, String name) {
            super(pool);
            setName(name);
            setDaemon(true);
        }

        /** Copies {@code bytes} NUL-terminated into the C string buffer; returns its address. */
        long cString(byte[] bytes, Path forMessage) throws IOException {
            if (bytes.length >= C_STRING_BYTES) {
                throw new IOException("path too long to measure (" + bytes.length + " bytes): " + forMessage);
            }
            string.put(0, bytes);
            string.put(bytes.length, (byte) 0);
            return stringAddress;
        }

        /** The name of the directory entry at {@code nameOffset} in the listing buffer. */
        byte[] dentName(int nameOffset, int recordLength) {
            int length = 0;
            while (length < recordLength - 19 && dents.get(nameOffset + length) != 0) {
                length++;
            }
            byte[] name = new byte[length];
            dents.get(nameOffset, name);
            return name;
        }

        private static ByteBuffer direct(int bytes) {
            return ByteBuffer.allocateDirect(bytes + 8).alignedSlice(8).order(ByteOrder.nativeOrder());
        }

        private static long address(ByteBuffer buffer) {
            return Pointer.nativeValue(Native.getDirectBufferPointer(buffer));
        }
    }

    // ---------------------------------------------------------------------------------------------
    // The C library
    // ---------------------------------------------------------------------------------------------

    /**
     * Offsets in {@code struct stat} and the constants that differ between the two supported
     * architectures (glibc headers, checked with gcc and aarch64-linux-gnu-gcc 12.2: offsetof).
     */
    private record Abi(int dev, int ino, int nlink, boolean wideNlink, int mode, int size, int blocks,
            int oDirectory, int oNoFollow, int statVersion, long sysGetdents64) {

        /** x86-64: st_nlink is 8 bytes at 16 before st_mode at 24; struct stat is 144 bytes. */
        static final Abi X86_64 = new Abi(0, 8, 16, true, 24, 48, 64, 0x10000, 0x20000, 1, 217);
        /** aarch64 (the generic layout): st_mode at 16 before a 4-byte st_nlink at 20; 128 bytes. */
        static final Abi AARCH64 = new Abi(0, 8, 20, false, 16, 48, 64, 0x4000, 0x8000, 0, 61);
    }

    /** The libc calls of this platform, and which variants this glibc has. */
    private static final class Natives {
        static final int AT_FDCWD = -100;
        static final int AT_SYMLINK_NOFOLLOW = 0x100;
        static final int AT_EMPTY_PATH = 0x1000;
        static final int O_CLOEXEC = 0x80000;
        static final int STATX_MNT_ID = 0x1000;
        static final int STATX_MASK_OFFSET = 0;
        static final int STATX_MNT_ID_OFFSET = 144;
        static final int S_IFMT = 0170000;
        static final int S_IFDIR = 0040000;
        static final int S_IFLNK = 0120000;
        static final int DT_DIR = 4;
        static final int ENOENT = 2;
        static final int ENOMEM = 12;
        static final int ENOTDIR = 20;
        static final int ENFILE = 23;
        static final int EMFILE = 24;
        static final int ELOOP = 40;
        static final Charset FILE_NAME_CHARSET = fileNameCharset();

        final Abi abi;
        final int openDirectoryFlags;
        private final boolean fxstatat;
        private final boolean getdentsSyscall;
        private final boolean statx;

        private Natives(Abi abi, boolean fxstatat, boolean getdentsSyscall, boolean statx) {
            this.abi = abi;
            this.openDirectoryFlags = abi.oDirectory() | abi.oNoFollow() | O_CLOEXEC; // O_RDONLY is 0
            this.fxstatat = fxstatat;
            this.getdentsSyscall = getdentsSyscall;
            this.statx = statx;
        }

        static Natives detect() {
            Abi abi = abi();
            try {
                return new Natives(abi, !Libc.has("fstatat"), !Libc.has("getdents64"), Libc.has("statx"));
            } catch (LinkageError e) {
                throw new UnsupportedOperationException("DirectoryUsage cannot call the C library through JNA"
                        + " (it needs glibc, and JNA's native part unpacked into a directory that allows"
                        + " executables): " + e, e);
            }
        }

        static Natives legacy() {
            return new Natives(abi(), true, true, false);
        }

        private static Abi abi() {
            if (Platform.isLinux() && "x86-64".equals(Platform.ARCH)) {
                return Abi.X86_64;
            }
            if (Platform.isLinux() && "aarch64".equals(Platform.ARCH)) {
                return Abi.AARCH64;
            }
            throw new UnsupportedOperationException("DirectoryUsage reads st_blocks through the C library and knows the"
                    + " struct stat of Linux on x86-64 and aarch64 only; this JVM runs on "
                    + System.getProperty("os.name") + " " + System.getProperty("os.arch"));
        }

        int stat(int dirfd, long path, long buffer, int flags) {
            return fxstatat ? FxStatAt.__fxstatat(abi.statVersion(), dirfd, path, buffer, flags)
                    : FStatAt.fstatat(dirfd, path, buffer, flags);
        }

        long getdents(int fd, long buffer, long bytes) {
            return getdentsSyscall ? Libc.syscall(abi.sysGetdents64(), fd, buffer, bytes)
                    : Getdents.getdents64(fd, buffer, bytes);
        }

        /** The mount ID of the open file {@code fd}, or -1 where {@code statx} cannot tell (Linux before 5.8). */
        long mountId(int fd, Worker w) {
            if (!statx || Statx.statx(fd, Worker.EMPTY_STRING, AT_EMPTY_PATH, STATX_MNT_ID, w.statxAddress) != 0
                    || (w.statx.getInt(STATX_MASK_OFFSET) & STATX_MNT_ID) == 0) {
                return -1;
            }
            return w.statx.getLong(STATX_MNT_ID_OFFSET);
        }

        private static Charset fileNameCharset() {
            String name = System.getProperty("sun.jnu.encoding");
            try {
                return name == null ? Charset.defaultCharset() : Charset.forName(name);
            } catch (IllegalArgumentException e) {
                return Charset.defaultCharset();
            }
        }
    }

    /**
     * Functions of every glibc. {@code openat} and {@code syscall} are variadic; they are bound
     * with fixed integer arguments, which the x86-64 and aarch64 Linux calling conventions pass
     * exactly as a variadic call does.
     */
    private static final class Libc {
        static final NativeLibrary C = NativeLibrary.getInstance(Platform.C_LIBRARY_NAME);

        static {
            Native.register(Libc.class, C);
        }

        static boolean has(String symbol) {
            try {
                C.getFunction(symbol);
                return true;
            } catch (UnsatisfiedLinkError e) {
                return false;
            }
        }

        static native int openat(int dirfd, long path, int flags, int mode);

        static native int close(int fd);

        static native long syscall(long number, long a, long b, long c);
    }

    /** glibc 2.33 and later. */
    private static final class FStatAt {
        static {
            Native.register(FStatAt.class, Libc.C);
        }

        static native int fstatat(int dirfd, long path, long buffer, int flags);
    }

    /** glibc before 2.33 (kept for old binaries later): fstatat with the struct's version first. */
    private static final class FxStatAt {
        static {
            Native.register(FxStatAt.class, Libc.C);
        }

        static native int __fxstatat(int version, int dirfd, long path, long buffer, int flags);
    }

    /** glibc 2.30 and later. */
    private static final class Getdents {
        static {
            Native.register(Getdents.class, Libc.C);
        }

        static native long getdents64(int fd, long buffer, long bytes);
    }

    /** glibc 2.28 and later. */
    private static final class Statx {
        static {
            Native.register(Statx.class, Libc.C);
        }

        static native int statx(int dirfd, long path, int flags, int mask, long buffer);
    }
}
