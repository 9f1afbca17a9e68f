package dev.builderd.storage.blob.ceph;

import com.ceph.rados.IoCTX;
import com.ceph.rados.Rados;
import com.ceph.rados.exceptions.RadosException;
import com.sun.jna.Pointer;
import dev.builderd.storage.blob.BlobAlreadyExistsException;
import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobNotFoundException;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.LazyIterator;
import dev.builderd.storage.blob.UploadLengthMismatchException;
import dev.builderd.storage.blob.WriteMode;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A {@link BlobStore} on RADOS, natively through librados (Debian's {@code librados2}, via the JNA
 * bindings {@code com.ceph:rados}).
 *
 * <h2>Layout</h2>
 * Inside the pool and namespace of {@link CephSettings}, a blob is:
 * <ul>
 *   <li>a <b>head</b> object: {@code k/<hex of the key's UTF-8 bytes>} when that fits in 400
 *       characters (keys up to 199 bytes), else {@code h/<sha256 of the key>}. Its content is a
 *       small text record (format version, size, stripe size, stripe count, write id, mtime, key);
 *       its xattr {@code builderd.wid} repeats the write id for compare-and-swap. Object names
 *       are ASCII only and stay far below {@code osd max object name len}.</li>
 *   <li>{@code stripes} <b>data</b> objects {@code d/<first 32 hex of sha256(key)>/<write id>/<index>},
 *       each {@code stripeSize} bytes except the last (a single RADOS object is size-limited).</li>
 * </ul>
 *
 * <h2>Atomicity</h2>
 * {@code put} writes all stripes (up to {@code workers} at once) under a fresh random write id,
 * then publishes with one compound write on the head: {@code CREATE_NEW} is an exclusive create
 * (the OSD lets exactly one racer win); {@code OVERWRITE} compares the head's write id with the
 * one it read and replaces the head only if it is unchanged, retrying otherwise. The replaced
 * blob's stripes are deleted after the publish. A put that fails deletes the stripes it wrote, so
 * nothing becomes visible. {@code delete} is a compare-and-remove of the head, then its stripes.
 * A process that dies between writing stripes and publishing leaves unreachable stripes;
 * {@link #orphanedStripes()} finds them.
 *
 * <h2>Readers</h2>
 * {@code open} reads the head once and then only the stripes its range touches, one at a time.
 * Stripes of a blob that is replaced or deleted while a stream of THIS store instance reads it are
 * kept until that stream is closed; a reader in another process can see such a blob vanish
 * mid-read (an {@link IOException}).
 *
 * <h2>Listing cost</h2>
 * RADOS has no ordered listing, and the {@code com.ceph:rados} bindings have no omap calls, so
 * {@code list} enumerates every object of the namespace (heads and stripes), keeps the heads that
 * match, sorts them, and then reads each head lazily while the iterator advances. One list call
 * therefore costs a full scan of the namespace: O(objects) names over the network. Give each
 * store its own namespace and keep the stripe size large so stripes do not dominate the scan.
 */
public final class RadosBlobStore implements BlobStore, AutoCloseable {

    static final String WID_XATTR = "builderd.wid";
    private static final int MAX_PLAIN_NAME = 400;
    private static final int HEAD_READ_LIMIT = 64 * 1024;
    private static final int ENOENT = 2;
    private static final int EEXIST = 17;
    private static final int ECANCELED = 125;
    private static final int PUBLISH_ATTEMPTS = 100;

    private final CephSettings settings;
    private final Rados rados;
    private final IoCTX io;
    private final ExecutorService workers;
    private final SecureRandom random = new SecureRandom();
    /** Open streams per write id, and stripe sets whose deletion waits for them. */
    private final Map<String, Integer> readers = new HashMap<>();
    private final Map<String, Head> deferred = new HashMap<>();

    /** Connects to the cluster; fails (naming monitors and pool) when it cannot. */
    public RadosBlobStore(CephSettings settings) throws IOException {
        this.settings = settings;
        Rados cluster = new Rados("ceph", settings.clientName(), 0);
        try {
            if (settings.confFile().isPresent()) {
                cluster.confReadFile(settings.confFile().get().toFile());
            }
            if (!settings.monitors().isBlank()) {
                cluster.confSet("mon_host", settings.monitors());
            }
            if (settings.keyringFile().isPresent()) {
                cluster.confSet("keyring", settings.keyringFile().get().toString());
            }
            long connect = Math.max(1, settings.timeouts().connect().toSeconds());
            long request = Math.max(1, settings.timeouts().request().toSeconds());
            cluster.confSet("client_mount_timeout", Long.toString(connect));
            cluster.confSet("rados_mon_op_timeout", Long.toString(request));
            cluster.confSet("rados_osd_op_timeout", Long.toString(request));
            cluster.connect();
            this.io = cluster.ioCtxCreate(settings.pool());
            this.io.setNamespace(settings.namespace());
        } catch (RadosException e) {
            cluster.shutDown();
            throw new IOException("cannot connect to Ceph (monitors " + settings.monitors() + ", pool " + settings.pool()
                    + ", user " + settings.clientName() + "): " + e.getMessage(), e);
        }
        this.rados = cluster;
        AtomicInteger n = new AtomicInteger();
        this.workers = Executors.newFixedThreadPool(settings.parallelIo().workers(), r -> {
            Thread t = new Thread(r, "rados-stripe-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    @Override
    public String backendName() {
        return "ceph";
    }

    // ------------------------------------------------------------------ put

    @Override
    public BlobInfo put(BlobKey key, InputStream data, long length, WriteMode mode) throws IOException {
        if (mode == WriteMode.CREATE_NEW && readHead(headName(key)) != null) {
            throw new BlobAlreadyExistsException(key); // early answer; the publish below decides
        }
        String wid = newWriteId();
        int stripeSize = settings.stripeSize();
        Semaphore inFlight = new Semaphore(settings.parallelIo().workers());
        List<Future<?>> writes = new ArrayList<>();
        long total = 0;
        int stripes = 0;
        try {
            while (true) {
                int want = stripeSize;
                if (length >= 0) {
                    want = (int) Math.min(stripeSize, Math.max(0, length - total));
                }
                byte[] buffer = new byte[want];
                int got = want == 0 ? 0 : data.readNBytes(buffer, 0, want);
                if (got == 0) {
                    break;
                }
                total += got;
                String name = stripeName(key, wid, stripes++);
                byte[] chunk = buffer;
                int chunkLength = got;
                acquire(inFlight, key);
                writes.add(workers.submit(() -> {
                    try {
                        io.writeFull(name, chunk, chunkLength);
                        return null;
                    } finally {
                        inFlight.release();
                    }
                }));
                if (got < want) {
                    break;
                }
                failFast(writes);
            }
            if (length >= 0) {
                if (total < length) {
                    throw new UploadLengthMismatchException(key, length, total);
                }
                if (data.read() != -1) {
                    throw new UploadLengthMismatchException(key, length, total + 1 + drain(data));
                }
            }
            for (Future<?> write : writes) {
                await(write, key);
            }
            Head head = new Head(key, total, stripeSize, stripes, wid, System.currentTimeMillis());
            Head replaced = publish(head, mode);
            if (replaced != null) {
                removeStripes(replaced);
            }
            return head.info();
        } catch (IOException | RuntimeException | Error e) {
            // Every submitted write is waited for, not cancelled: a cancelled future answers get() at
            // once while its write may still be running, and would land its stripe after the removal below.
            for (Future<?> write : writes) {
                try {
                    write.get();
                } catch (Exception ignored) {
                    // it failed; its stripe is removed below either way
                }
            }
            for (int i = 0; i < stripes; i++) {
                try {
                    removeIfExists(stripeName(key, wid, i));
                } catch (IOException cleanup) {
                    e.addSuppressed(cleanup);
                }
            }
            throw e;
        }
    }

    private static long drain(InputStream data) throws IOException {
        return data.transferTo(OutputStreamSink.INSTANCE);
    }

    /** Writes the head. Returns the head it replaced, or null. */
    private Head publish(Head head, WriteMode mode) throws IOException {
        String name = headName(head.key());
        byte[] content = head.encode();
        byte[] wid = head.wid().getBytes(StandardCharsets.US_ASCII);
        for (int attempt = 0; attempt < PUBLISH_ATTEMPTS; attempt++) {
            Head current = mode == WriteMode.CREATE_NEW ? null : readHead(name);
            LibRadosOps ops = LibRadosOps.INSTANCE;
            Pointer op = ops.rados_create_write_op();
            try {
                if (current == null) {
                    ops.rados_write_op_create(op, LibRadosOps.CREATE_EXCLUSIVE, null);
                } else {
                    byte[] expected = current.wid().getBytes(StandardCharsets.US_ASCII);
                    ops.rados_write_op_cmpxattr(op, WID_XATTR, LibRadosOps.CMPXATTR_EQ, expected, expected.length);
                }
                ops.rados_write_op_write_full(op, content, content.length);
                ops.rados_write_op_setxattr(op, WID_XATTR, wid, wid.length);
                int rc = ops.rados_write_op_operate(op, io.getPointer(), name, null, 0);
                if (rc == 0) {
                    return current;
                }
                if (rc == -EEXIST && mode == WriteMode.CREATE_NEW) {
                    throw new BlobAlreadyExistsException(head.key());
                }
                if (rc != -EEXIST && rc != -ECANCELED && rc != -ENOENT) {
                    throw new IOException("cannot publish " + head.key() + " (RADOS object " + name + "): error " + -rc);
                }
                // someone else changed the head meanwhile: read it again and retry
            } finally {
                ops.rados_release_write_op(op);
            }
        }
        throw new IOException("cannot publish " + head.key() + ": the head kept changing under " + PUBLISH_ATTEMPTS + " attempts");
    }

    // ------------------------------------------------------------------ read

    @Override
    public InputStream open(BlobKey key, ByteRange range) throws IOException {
        String name = headName(key);
        for (int attempt = 0; attempt < PUBLISH_ATTEMPTS; attempt++) {
            Head head = readHead(name);
            if (head == null) {
                throw new BlobNotFoundException(key);
            }
            retain(head.wid());
            // The head may have been replaced (and its stripes deleted) before we registered.
            Head again = readHead(name);
            if (again != null && again.wid().equals(head.wid())) {
                return new StripeStream(head, range);
            }
            release(head.wid());
        }
        throw new IOException("cannot open " + key + ": it kept changing while being opened");
    }

    @Override
    public Optional<BlobInfo> stat(BlobKey key) throws IOException {
        return Optional.ofNullable(readHead(headName(key))).map(Head::info);
    }

    @Override
    public boolean delete(BlobKey key) throws IOException {
        String name = headName(key);
        for (int attempt = 0; attempt < PUBLISH_ATTEMPTS; attempt++) {
            Head head = readHead(name);
            if (head == null) {
                return false;
            }
            LibRadosOps ops = LibRadosOps.INSTANCE;
            Pointer op = ops.rados_create_write_op();
            try {
                byte[] expected = head.wid().getBytes(StandardCharsets.US_ASCII);
                ops.rados_write_op_cmpxattr(op, WID_XATTR, LibRadosOps.CMPXATTR_EQ, expected, expected.length);
                ops.rados_write_op_remove(op);
                int rc = ops.rados_write_op_operate(op, io.getPointer(), name, null, 0);
                if (rc == 0) {
                    removeStripes(head);
                    return true;
                }
                if (rc != -ECANCELED && rc != -ENOENT) {
                    throw new IOException("cannot delete " + key + " (RADOS object " + name + "): error " + -rc);
                }
            } finally {
                ops.rados_release_write_op(op);
            }
        }
        throw new IOException("cannot delete " + key + ": it kept changing");
    }

    // ------------------------------------------------------------------ list

    @Override
    public Iterator<BlobInfo> list(String prefix, BlobKey startAfter) throws IOException {
        List<String> plainKeys = new ArrayList<>();
        List<BlobInfo> hashed = new ArrayList<>();
        for (String object : io.listObjects()) {
            if (object.startsWith("k/")) {
                String key = new String(HexFormat.of().parseHex(object.substring(2)), StandardCharsets.UTF_8);
                if (selected(key, prefix, startAfter)) {
                    plainKeys.add(key);
                }
            } else if (object.startsWith("h/")) {
                Head head = readHead(object);
                if (head != null && selected(head.key().value(), prefix, startAfter)) {
                    hashed.add(head.info());
                }
            }
        }
        List<Object> all = new ArrayList<>(plainKeys);
        all.addAll(hashed);
        all.sort((a, b) -> BlobKey.compareKeys(keyOf(a), keyOf(b)));
        Iterator<Object> names = all.iterator();
        return new LazyIterator<>() {
            @Override
            protected BlobInfo computeNext() throws IOException {
                while (names.hasNext()) {
                    Object item = names.next();
                    if (item instanceof BlobInfo info) {
                        return info;
                    }
                    Head head = readHead(headName(BlobKey.of((String) item)));
                    if (head != null) { // else deleted since the scan
                        return head.info();
                    }
                }
                return null;
            }
        };
    }

    private static String keyOf(Object item) {
        return item instanceof BlobInfo info ? info.key().value() : (String) item;
    }

    private static boolean selected(String key, String prefix, BlobKey startAfter) {
        return key.startsWith(prefix) && (startAfter == null || BlobKey.compareKeys(key, startAfter.value()) > 0);
    }

    /**
     * Data objects that no head reaches: stripes of puts that died before publishing or whose
     * cleanup failed, and stripes kept for a reader of this store. Costs a full namespace scan.
     */
    public List<String> orphanedStripes() throws IOException {
        List<String> stripes = new ArrayList<>();
        Set<String> live = new HashSet<>();
        for (String object : io.listObjects()) {
            if (object.startsWith("d/")) {
                stripes.add(object);
            } else if (object.startsWith("k/") || object.startsWith("h/")) {
                Head head = readHead(object);
                if (head != null) {
                    live.add(head.wid());
                }
            }
        }
        List<String> orphans = new ArrayList<>();
        for (String stripe : stripes) {
            String[] parts = stripe.split("/");
            if (parts.length != 4 || !live.contains(parts[2])) {
                orphans.add(stripe);
            }
        }
        orphans.sort(String::compareTo);
        return orphans;
    }

    @Override
    public void close() {
        workers.shutdownNow();
        rados.ioCtxDestroy(io);
        rados.shutDown();
    }

    // ------------------------------------------------------------------ helpers

    private Head readHead(String name) throws IOException {
        byte[] buffer = new byte[HEAD_READ_LIMIT];
        int n;
        try {
            n = io.read(name, buffer.length, 0, buffer);
        } catch (RadosException e) {
            if (e.getReturnValue() == -ENOENT) {
                return null;
            }
            throw new IOException("cannot read RADOS object " + name + ": " + e.getMessage(), e);
        }
        return Head.decode(new String(buffer, 0, n, StandardCharsets.UTF_8), name);
    }

    private void removeStripes(Head head) throws IOException {
        synchronized (readers) {
            if (readers.containsKey(head.wid())) {
                deferred.put(head.wid(), head);
                return;
            }
        }
        for (int i = 0; i < head.stripes(); i++) {
            removeIfExists(stripeName(head.key(), head.wid(), i));
        }
    }

    private void removeIfExists(String name) throws IOException {
        try {
            io.remove(name);
        } catch (RadosException e) {
            if (e.getReturnValue() != -ENOENT) {
                throw new IOException("cannot remove RADOS object " + name + ": " + e.getMessage(), e);
            }
        }
    }

    private void retain(String wid) {
        synchronized (readers) {
            readers.merge(wid, 1, Integer::sum);
        }
    }

    private void release(String wid) throws IOException {
        Head pending;
        synchronized (readers) {
            if (readers.merge(wid, -1, Integer::sum) > 0) {
                return;
            }
            readers.remove(wid);
            pending = deferred.remove(wid);
        }
        if (pending != null) {
            removeStripes(pending);
        }
    }

    static String headName(BlobKey key) {
        String hex = HexFormat.of().formatHex(key.value().getBytes(StandardCharsets.UTF_8));
        if (hex.length() + 2 <= MAX_PLAIN_NAME) {
            return "k/" + hex;
        }
        return "h/" + HexFormat.of().formatHex(sha256(key.value()));
    }

    static String stripeName(BlobKey key, String wid, int index) {
        return "d/" + HexFormat.of().formatHex(sha256(key.value()), 0, 16) + "/" + wid + "/" + index;
    }

    private String newWriteId() {
        byte[] id = new byte[16];
        random.nextBytes(id);
        return HexFormat.of().formatHex(id);
    }

    private static byte[] sha256(String value) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(value.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void acquire(Semaphore semaphore, BlobKey key) throws IOException {
        try {
            semaphore.acquire();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while storing " + key);
        }
    }

    private static void failFast(List<Future<?>> writes) throws IOException {
        for (Future<?> write : writes) {
            if (write.isDone()) {
                try {
                    write.get();
                } catch (ExecutionException e) {
                    throw asIo(e.getCause());
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new InterruptedIOException("interrupted");
                }
            }
        }
    }

    private static void await(Future<?> write, BlobKey key) throws IOException {
        try {
            write.get();
        } catch (ExecutionException e) {
            IOException io = asIo(e.getCause());
            throw new IOException("cannot store " + key + ": " + io.getMessage(), io);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while storing " + key);
        }
    }

    private static IOException asIo(Throwable cause) {
        return cause instanceof IOException io ? io : new IOException(cause);
    }

    // ------------------------------------------------------------------ head record

    /** The head object's content. */
    record Head(BlobKey key, long size, int stripeSize, int stripes, String wid, long mtimeMillis) {

        BlobInfo info() {
            return new BlobInfo(key, size, Instant.ofEpochMilli(mtimeMillis));
        }

        byte[] encode() {
            return ("builderd-ceph-head 1\n" + size + "\n" + stripeSize + "\n" + stripes + "\n" + wid + "\n"
                    + mtimeMillis + "\n" + key.value()).getBytes(StandardCharsets.UTF_8);
        }

        static Head decode(String text, String object) throws IOException {
            String[] lines = text.split("\n", 7);
            if (lines.length != 7 || !lines[0].equals("builderd-ceph-head 1")) {
                throw new IOException("RADOS object " + object + " is not a builderd blob head");
            }
            try {
                return new Head(BlobKey.of(lines[6]), Long.parseLong(lines[1]), Integer.parseInt(lines[2]),
                        Integer.parseInt(lines[3]), lines[4], Long.parseLong(lines[5]));
            } catch (IllegalArgumentException e) {
                throw new IOException("RADOS object " + object + " is a damaged blob head: " + e.getMessage(), e);
            }
        }
    }

    // ------------------------------------------------------------------ reading stream

    /** Reads the stripes a range touches, one at a time, and releases the write id when closed. */
    private final class StripeStream extends InputStream {
        private final Head head;
        private long position;
        private final long end;
        private byte[] chunk = new byte[0];
        private int chunkPos;
        private boolean closed;

        StripeStream(Head head, ByteRange range) {
            this.head = head;
            this.position = Math.min(range.offset(), head.size());
            this.end = position + range.lengthWithin(head.size());
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) == 1 ? one[0] & 0xff : -1;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            if (closed) {
                throw new IOException("stream of " + head.key() + " is closed");
            }
            if (len == 0) {
                return 0;
            }
            if (chunkPos >= chunk.length && !fill()) {
                return -1;
            }
            int n = Math.min(len, chunk.length - chunkPos);
            System.arraycopy(chunk, chunkPos, b, off, n);
            chunkPos += n;
            return n;
        }

        private boolean fill() throws IOException {
            if (position >= end) {
                return false;
            }
            int index = (int) (position / head.stripeSize());
            long within = position - (long) index * head.stripeSize();
            int want = (int) Math.min(Math.min(head.stripeSize() - within, end - position), settings.parallelIo().bufferSize() * 4L);
            byte[] buffer = new byte[want];
            String name = stripeName(head.key(), head.wid(), index);
            int got;
            try {
                got = io.read(name, want, within, buffer);
            } catch (RadosException e) {
                throw new IOException("cannot read " + head.key() + " (stripe " + name + "): " + e.getMessage(), e);
            }
            if (got <= 0) {
                throw new IOException("stripe " + name + " of " + head.key() + " is shorter than its head says");
            }
            chunk = got == want ? buffer : java.util.Arrays.copyOf(buffer, got);
            chunkPos = 0;
            position += got;
            return true;
        }

        @Override
        public void close() throws IOException {
            if (!closed) {
                closed = true;
                release(head.wid());
            }
        }
    }

    /** An OutputStream that drops everything (to count the bytes a too-long upload sends). */
    private static final class OutputStreamSink extends java.io.OutputStream {
        static final OutputStreamSink INSTANCE = new OutputStreamSink();

        @Override
        public void write(int b) {
        }

        @Override
        public void write(byte[] b, int off, int len) {
        }
    }
}
