package dev.builderd.storage.blob;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Instant;
import java.util.Iterator;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentSkipListMap;

/**
 * A {@link BlobStore} that holds every blob as a byte array on the Java heap. It is meant for
 * tests and for small data embedded in a process; a blob is limited to
 * {@value #MAX_BLOB_SIZE} bytes and all blobs together to the heap.
 *
 * <p>It honours the whole contract: a put reads the entire stream and checks its length before
 * the blob becomes visible; of concurrent {@link WriteMode#CREATE_NEW} puts of one key exactly one
 * wins; a stream opened by {@link #open} reads an immutable snapshot; {@link #list} walks the keys
 * in {@link BlobKey#compareTo} order. Nothing survives the process.
 */
public final class MemoryBlobStore implements BlobStore {

    /** Largest blob this store accepts: the largest byte array a JVM reliably allocates. */
    public static final int MAX_BLOB_SIZE = Integer.MAX_VALUE - 8;

    private static final int COPY_BUFFER = 64 * 1024;

    /** An immutable stored blob; {@code bytes} is never written after it is published. */
    private record Blob(byte[] bytes, BlobInfo info) {
    }

    /** Keyed by {@link BlobKey#value()} in {@link BlobKey#compareKeys} order, so prefixes can be looked up. */
    private final ConcurrentSkipListMap<String, Blob> blobs = new ConcurrentSkipListMap<>(BlobKey::compareKeys);

    @Override
    public String backendName() {
        return "memory";
    }

    @Override
    public BlobInfo put(BlobKey key, InputStream data, long length, WriteMode mode) throws IOException {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(data, "data");
        Objects.requireNonNull(mode, "mode");
        byte[] bytes = readAll(key, data, length);
        Blob blob = new Blob(bytes, new BlobInfo(key, bytes.length, Instant.now()));
        if (mode == WriteMode.CREATE_NEW) {
            if (blobs.putIfAbsent(key.value(), blob) != null) {
                throw new BlobAlreadyExistsException(key);
            }
        } else {
            blobs.put(key.value(), blob);
        }
        return blob.info();
    }

    /** Reads {@code data} to its end, checking it against the declared {@code length}. */
    private static byte[] readAll(BlobKey key, InputStream data, long length) throws IOException {
        if (length > MAX_BLOB_SIZE) {
            throw new IOException("blob " + key + " of " + length + " bytes is larger than the memory store's limit of "
                    + MAX_BLOB_SIZE + " bytes");
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(length > 0 ? (int) Math.min(length, COPY_BUFFER) : 32);
        byte[] buffer = new byte[COPY_BUFFER];
        long total = 0;
        int n;
        while ((n = data.read(buffer)) >= 0) {
            total += n;
            if (length >= 0 && total > length) {
                throw new UploadLengthMismatchException(key, length, length + 1);
            }
            if (total > MAX_BLOB_SIZE) {
                throw new IOException("blob " + key + " is larger than the memory store's limit of "
                        + MAX_BLOB_SIZE + " bytes");
            }
            out.write(buffer, 0, n);
        }
        if (length >= 0 && total != length) {
            throw new UploadLengthMismatchException(key, length, total);
        }
        return out.toByteArray();
    }

    @Override
    public InputStream open(BlobKey key, ByteRange range) throws IOException {
        Blob blob = blobs.get(key.value());
        if (blob == null) {
            throw new BlobNotFoundException(key);
        }
        byte[] bytes = blob.bytes();
        int offset = (int) Math.min(range.offset(), bytes.length);
        int length = (int) range.lengthWithin(bytes.length);
        return new ByteArrayInputStream(bytes, offset, length);
    }

    @Override
    public Optional<BlobInfo> stat(BlobKey key) {
        return Optional.ofNullable(blobs.get(key.value())).map(Blob::info);
    }

    @Override
    public boolean delete(BlobKey key) {
        return blobs.remove(key.value()) != null;
    }

    @Override
    public Iterator<BlobInfo> list(String prefix, BlobKey startAfter) {
        String wanted = prefix == null ? "" : prefix;
        NavigableMap<String, Blob> tail = startAfter != null && BlobKey.compareKeys(startAfter.value(), wanted) >= 0
                ? blobs.tailMap(startAfter.value(), false)
                : blobs.tailMap(wanted, true);
        // Keys with a common prefix are contiguous in code-point order, so the walk stops at the first
        // key without it; unless the prefix ends inside a surrogate pair, which only a filter handles.
        boolean contiguous = wanted.isEmpty() || !Character.isHighSurrogate(wanted.charAt(wanted.length() - 1));
        Iterator<Map.Entry<String, Blob>> entries = tail.entrySet().iterator();
        return new LazyIterator<>() {
            private boolean done;

            @Override
            protected BlobInfo computeNext() {
                while (!done && entries.hasNext()) {
                    Map.Entry<String, Blob> entry = entries.next();
                    if (entry.getKey().startsWith(wanted)) {
                        return entry.getValue().info();
                    }
                    done = contiguous;
                }
                return null;
            }
        };
    }

    @Override
    public String toString() {
        return "MemoryBlobStore[" + blobs.size() + " blobs]";
    }
}
