package dev.builderd.storage.blob;

import java.io.IOException;
import java.util.Optional;

/**
 * An optional capability of stores that can hand out a blob's bytes in native buffers of their
 * own (decrypted local blobs, say), so that a server can send them without copying them through
 * the Java heap. The bytes are those of {@link BlobStore#open} for the same key and range.
 */
public interface BufferReads {

    /**
     * Opens {@code range} of the blob as a {@link BufferStream}, when this store can do that better
     * than {@link BlobStore#open}; empty when it cannot (the caller then uses {@code open}). The
     * first bytes are already checked when this returns, so a damaged blob fails here, before a
     * caller announces a response. The caller closes the stream.
     *
     * @throws BlobNotFoundException if there is no blob under {@code key}
     * @throws IntegrityViolationException if the blob does not authenticate
     */
    Optional<BufferStream> openBuffers(BlobKey key, ByteRange range) throws IOException;
}
