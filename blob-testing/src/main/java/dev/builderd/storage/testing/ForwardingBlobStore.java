package dev.builderd.storage.testing;

import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.WriteMode;
import java.io.IOException;
import java.io.InputStream;
import java.util.Iterator;
import java.util.Optional;

/** A store that forwards every call to another; tests override the calls they watch or disturb. */
public class ForwardingBlobStore implements BlobStore {

    protected final BlobStore inner;

    public ForwardingBlobStore(BlobStore inner) {
        this.inner = inner;
    }

    @Override
    public BlobInfo put(BlobKey key, InputStream data, long length, WriteMode mode) throws IOException {
        return inner.put(key, data, length, mode);
    }

    @Override
    public InputStream open(BlobKey key, ByteRange range) throws IOException {
        return inner.open(key, range);
    }

    @Override
    public Optional<BlobInfo> stat(BlobKey key) throws IOException {
        return inner.stat(key);
    }

    @Override
    public boolean delete(BlobKey key) throws IOException {
        return inner.delete(key);
    }

    @Override
    public int deleteAll(java.util.List<BlobKey> keys) throws IOException {
        return inner.deleteAll(keys);
    }

    @Override
    public Iterator<BlobInfo> list(String prefix, BlobKey startAfter) throws IOException {
        return inner.list(prefix, startAfter);
    }

    @Override
    public String backendName() {
        return inner.backendName();
    }
}
