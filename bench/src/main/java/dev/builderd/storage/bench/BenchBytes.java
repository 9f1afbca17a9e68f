package dev.builderd.storage.bench;

import java.util.SplittableRandom;

/**
 * Sizes and data shared by the crypto benchmarks. Every benchmark method counts one JMH
 * operation per byte it moves ({@code @OperationsPerInvocation}), so a score in ops/s is a
 * throughput in bytes/s: divided by 10^6 it is MB/s.
 */
final class BenchBytes {

    static final int MIB = 1 << 20;
    /** The blob every whole-blob benchmark encrypts, decrypts or hashes. */
    static final int BLOB_SIZE = 64 * MIB;
    /** The chunk of the raw AES-GCM baseline: the data store's ciphertext segment size. */
    static final int CHUNK_SIZE = 256 * 1024;
    /** A ranged read: 1 MiB ... */
    static final int RANGE_SIZE = MIB;
    /** ... from the middle of the blob, not aligned to any segment. */
    static final long RANGE_OFFSET = BLOB_SIZE / 2 + 123_457;
    /** Buffer of every read loop (the daemon's copy buffer for streamed responses smaller than 256 KiB; larger ones go through 1 MiB buffers). */
    static final int READ_BUFFER = 256 * 1024;

    private BenchBytes() {
    }

    /** {@code size} pseudo-random bytes from {@code seed}: incompressible, the same in every run. */
    static byte[] random(long seed, int size) {
        byte[] bytes = new byte[size];
        SplittableRandom random = new SplittableRandom(seed);
        for (int i = 0; i < size; i += Long.BYTES) {
            long word = random.nextLong();
            for (int j = 0; j < Long.BYTES && i + j < size; j++) {
                bytes[i + j] = (byte) (word >>> (8 * j));
            }
        }
        return bytes;
    }
}
