package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.BufferReads;
import dev.builderd.storage.blob.BufferStream;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.FileChannelReads;
import dev.builderd.storage.core.model.ArtifactInfo;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.util.Optional;

/**
 * An artifact the caller was allowed to see, ready to be read. Only {@link ArtifactService}
 * makes these, after checking access, so reading needs no second look-up.
 */
public final class ArtifactHandle {

    private final ArtifactInfo info;
    private final BlobStore store;
    private final BlobKey key;

    ArtifactHandle(ArtifactInfo info, BlobStore store, BlobKey key) {
        this.info = info;
        this.store = store;
        this.key = key;
    }

    public ArtifactInfo info() {
        return info;
    }

    /**
     * The content as a local file channel, when the store keeps it as a plain local file (so that
     * it can be sent without copying through the heap); empty otherwise. The caller closes it.
     */
    public Optional<FileChannel> openFileChannel() {
        if (!(store instanceof FileChannelReads files)) {
            return Optional.empty();
        }
        try {
            return files.openChannel(key);
        } catch (IOException e) {
            throw IoErrors.translate(e, "reading artifact " + info.name());
        }
    }

    /**
     * {@code range} of the content as native buffers, when the store hands them out itself (a
     * decrypted local blob); empty otherwise. The caller closes it.
     */
    public Optional<BufferStream> openBuffers(ByteRange range) {
        if (!(store instanceof BufferReads buffers)) {
            return Optional.empty();
        }
        try {
            return buffers.openBuffers(key, range);
        } catch (IOException e) {
            throw IoErrors.translate(e, "reading artifact " + info.name());
        }
    }

    /** Opens {@code range} of the content; the caller closes the stream. */
    public InputStream open(ByteRange range) {
        try {
            return store.open(key, range);
        } catch (IOException e) {
            throw IoErrors.translate(e, "reading artifact " + info.name());
        }
    }
}
