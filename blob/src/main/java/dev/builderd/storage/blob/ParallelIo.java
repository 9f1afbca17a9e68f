package dev.builderd.storage.blob;

/**
 * How a remote store moves large blobs (the specification's {@code ParallelIO}): blobs larger
 * than {@code partSize} go up as parts (S3 multipart, Azure staged blocks, GCS resumable chunks)
 * and come down as ranged reads, with at most {@code workers} parts in flight per blob, each
 * buffered in {@code partSize} bytes of memory; {@code bufferSize} is the size of a single read
 * or write buffer.
 */
public record ParallelIo(int workers, int partSize, int bufferSize) {

    /** The smallest part S3 accepts (except the last). */
    public static final int MIN_PART_SIZE = 5 << 20;

    public ParallelIo {
        if (workers < 1 || workers > 64) {
            throw new IllegalArgumentException("workers must be 1 to 64, was " + workers);
        }
        if (partSize < MIN_PART_SIZE || partSize > (512 << 20)) {
            throw new IllegalArgumentException("part size must be 5 MiB to 512 MiB, was " + partSize);
        }
        if (bufferSize < 4096 || bufferSize > partSize) {
            throw new IllegalArgumentException("buffer size must be 4 KiB to the part size, was " + bufferSize);
        }
    }

    /** 4 workers, 16 MiB parts, 1 MiB buffers: 64 MiB of part buffers per large transfer at most. */
    public static ParallelIo defaults() {
        return new ParallelIo(4, 16 << 20, 1 << 20);
    }
}
