package dev.builderd.storage.blob;

import java.io.IOException;
import java.io.InputStream;
import java.util.Iterator;
import java.util.Optional;

/**
 * Where blobs live: the whole contract every backend (filesystem, S3, Azure, GCS, Ceph) and every
 * wrapper (encrypting, metered, tiered, replicating) implements. Keys are flat names; there are
 * no directories and no rename.
 *
 * <p>All methods are safe to call from many threads at once. Every failure is an
 * {@link IOException}; one that concerns a key names that key in its message.
 */
public interface BlobStore {

    /**
     * Stores {@code data} under {@code key}, atomically: until this method returns normally,
     * readers see the previous blob (or none); afterwards, the new one, whole. The data is durable
     * when this returns.
     *
     * <p>If reading {@code data} throws, if it ends before {@code length} bytes, or if it has more
     * than {@code length} bytes ({@link UploadLengthMismatchException}), nothing is stored, no
     * partial or temporary object stays visible, and the exception is thrown. A stream that wants
     * to veto the upload (a checksum that does not match, say) throws from its last {@code read}.
     * The stream is read to its end but not closed.
     *
     * @param length the exact number of bytes {@code data} holds, or {@code -1} if unknown
     * @throws BlobAlreadyExistsException with {@link WriteMode#CREATE_NEW} when the key exists;
     *     of concurrent {@code CREATE_NEW} puts of one key exactly one succeeds
     */
    BlobInfo put(BlobKey key, InputStream data, long length, WriteMode mode) throws IOException;

    /**
     * Opens {@code range} of the blob for reading. The stream reads the blob as it was when it
     * was opened, even if it is replaced or deleted meanwhile. The caller closes it.
     *
     * @throws BlobNotFoundException if there is no blob under {@code key}
     */
    InputStream open(BlobKey key, ByteRange range) throws IOException;

    /** What is stored under {@code key}, or empty. */
    Optional<BlobInfo> stat(BlobKey key) throws IOException;

    /** Removes the blob; a missing key is not an error. Returns whether a blob was removed. */
    boolean delete(BlobKey key) throws IOException;

    /**
     * Removes the blobs, as {@link #delete} removes each, and returns how many were removed. A
     * store may make the removals durable together (the filesystem syncs each directory once, not
     * once per blob), which is what lets a cache evict many small entries quickly.
     */
    default int deleteAll(java.util.List<BlobKey> keys) throws IOException {
        int removed = 0;
        for (BlobKey key : keys) {
            if (delete(key)) {
                removed++;
            }
        }
        return removed;
    }

    /**
     * The blobs whose key starts with {@code prefix} (plain string prefix; {@code ""} for all) and
     * sorts after {@code startAfter} (null to start at the beginning), in ascending key order,
     * fetched lazily. The iterator throws {@link java.io.UncheckedIOException} if the store fails
     * while it is being read.
     */
    Iterator<BlobInfo> list(String prefix, BlobKey startAfter) throws IOException;

    /** A short name for logs, metrics and health, such as {@code filesystem}. */
    String backendName();
}
