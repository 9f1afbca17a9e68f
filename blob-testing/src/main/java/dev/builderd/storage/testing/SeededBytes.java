package dev.builderd.storage.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Reproducible pseudo-random test data: the same seed and size always give the same bytes,
 * however the stream is read, so a multi-gigabyte blob can be written and verified by digest
 * without ever holding it in memory. Print the seed when a test fails.
 */
public final class SeededBytes {

    private static final int BLOCK = 8192;

    private SeededBytes() {
    }

    /** A stream of {@code size} pseudo-random bytes drawn from {@code seed}. */
    public static InputStream stream(long seed, long size) {
        return new Generator(seed, size);
    }

    /** The same bytes as {@link #stream}, as an array; for small sizes only. */
    public static byte[] array(long seed, int size) {
        try (InputStream in = stream(seed, size)) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The hex SHA-256 of the bytes of {@link #stream}. */
    public static String sha256(long seed, long size) {
        try (InputStream in = stream(seed, size)) {
            return sha256(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Reads {@code in} to its end and returns the hex SHA-256 of what it read. */
    public static String sha256(InputStream in) throws IOException {
        MessageDigest digest = newSha256();
        byte[] buffer = new byte[64 * 1024];
        int n;
        while ((n = in.read(buffer)) >= 0) {
            digest.update(buffer, 0, n);
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    /** The hex SHA-256 of {@code bytes}. */
    public static String sha256(byte[] bytes) {
        return HexFormat.of().formatHex(newSha256().digest(bytes));
    }

    private static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
    }

    /** Generates fixed-size blocks in sequence, so the output does not depend on read sizes. */
    private static final class Generator extends InputStream {
        private final SplittableRandom random;
        private final byte[] block = new byte[BLOCK];
        private long remaining;
        private int position = BLOCK;

        Generator(long seed, long size) {
            if (size < 0) {
                throw new IllegalArgumentException("size must be >= 0, was " + size);
            }
            this.random = new SplittableRandom(seed);
            this.remaining = size;
        }

        @Override
        public int read() {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] buffer, int offset, int length) {
            Objects.checkFromIndexSize(offset, length, buffer.length);
            if (remaining == 0) {
                return -1;
            }
            if (length == 0) {
                return 0;
            }
            if (position == BLOCK) {
                random.nextBytes(block);
                position = 0;
            }
            int n = (int) Math.min(Math.min(length, BLOCK - position), remaining);
            System.arraycopy(block, position, buffer, offset, n);
            position += n;
            remaining -= n;
            return n;
        }

        @Override
        public int available() {
            return (int) Math.min(remaining, BLOCK - position);
        }
    }
}
