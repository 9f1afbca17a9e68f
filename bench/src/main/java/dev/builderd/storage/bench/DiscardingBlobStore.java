package dev.builderd.storage.bench;

import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobNotFoundException;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.UploadLengthMismatchException;
import dev.builderd.storage.blob.WriteMode;
import java.io.IOException;
import java.io.InputStream;
import java.time.Instant;
import java.util.Collections;
import java.util.Iterator;
import java.util.Optional;

/**
 * A store that reads every upload to its end and keeps nothing: under a wrapper it measures the
 * wrapper alone, without the copy a memory store makes. Holds no blob, so reads find none.
 */
final class DiscardingBlobStore implements BlobStore {

    @Override
    public BlobInfo put(BlobKey key, InputStream data, long length, WriteMode mode) throws IOException {
        byte[] buffer = new byte[BenchBytes.READ_BUFFER];
        long total = 0;
        int n;
        while ((n = data.read(buffer)) >= 0) {
            total += n;
        }
        if (length >= 0 && total != length) {
            throw new UploadLengthMismatchException(key, length, total);
        }
        return new BlobInfo(key, total, Instant.EPOCH);
    }

    @Override
    public InputStream open(BlobKey key, ByteRange range) throws IOException {
        throw new BlobNotFoundException(key);
    }

    @Override
    public Optional<BlobInfo> stat(BlobKey key) {
        return Optional.empty();
    }

    @Override
    public boolean delete(BlobKey key) {
        return false;
    }

    @Override
    public Iterator<BlobInfo> list(String prefix, BlobKey startAfter) {
        return Collections.emptyIterator();
    }

    @Override
    public String backendName() {
        return "discard";
    }
}
