package dev.builderd.storage.blob;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.util.Optional;

/**
 * An optional capability of stores that keep blobs as local files: reading one as a
 * {@link FileChannel}, so that a server can move its bytes with direct buffers instead of
 * copying them through the Java heap.
 */
public interface FileChannelReads {

    /**
     * Opens the blob for reading, with the same safety rules as {@link BlobStore#open}, when its
     * file holds exactly the bytes a reader sees; empty when it does not (an encrypted blob, say),
     * and the caller reads it with {@link BlobStore#open}. The channel sees the blob as it was
     * when opened; the caller closes it.
     *
     * @throws BlobNotFoundException if there is no blob under {@code key}
     */
    Optional<FileChannel> openChannel(BlobKey key) throws IOException;
}
