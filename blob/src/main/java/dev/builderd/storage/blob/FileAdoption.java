package dev.builderd.storage.blob;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Path;

/**
 * An optional capability of stores that keep blobs as local files: taking over a file that
 * already exists on the same filesystem by renaming it, instead of copying its bytes.
 */
public interface FileAdoption {

    /**
     * Moves {@code file} into the store under {@code key}, replacing any blob there atomically,
     * and makes it durable. The caller has checked that {@code file} is a regular file it may
     * give away; it is gone from its old place when this returns.
     *
     * @throws AtomicMoveNotSupportedException if {@code file} cannot be taken over as it is: it is
     *     on another filesystem, or the store keeps blobs under {@code key} in another form
     *     (encrypted, say); the file is then left where it was, and the caller copies it with
     *     {@link BlobStore#put}
     */
    BlobInfo adopt(BlobKey key, Path file) throws IOException;
}
