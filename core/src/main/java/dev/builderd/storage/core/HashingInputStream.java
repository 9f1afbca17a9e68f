package dev.builderd.storage.core;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * Computes the SHA-256 of an upload as it streams through, and vetoes it at the end: when an
 * expected digest was given and the data does not match, the final read throws, so a store
 * never publishes it. Failures of the underlying stream are reported as
 * {@link IoErrors.BodyReadException}, to tell a broken client from a broken disk.
 */
final class HashingInputStream extends FilterInputStream {

    private final MessageDigest digest;
    private final String expectedSha256;
    private String sha256;

    /** @param expectedSha256 lowercase hex, or null to accept any content */
    HashingInputStream(InputStream in, String expectedSha256) {
        super(in);
        this.expectedSha256 = expectedSha256;
        try {
            this.digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] buffer, int offset, int length) throws IOException {
        int n;
        try {
            n = in.read(buffer, offset, length);
        } catch (IOException e) {
            throw new IoErrors.BodyReadException(e);
        }
        if (n > 0) {
            digest.update(buffer, offset, n);
        } else if (n < 0) {
            finish();
        }
        return n;
    }

    @Override
    public long skip(long n) {
        return 0;
    }

    private void finish() throws IOException {
        if (sha256 == null) {
            sha256 = HexFormat.of().formatHex(digest.digest());
        }
        if (expectedSha256 != null && !expectedSha256.equals(sha256)) {
            throw new IoErrors.ChecksumMismatchException(expectedSha256, sha256);
        }
    }

    /** The SHA-256 of everything read, in lowercase hex; only once the end was reached. */
    String sha256() {
        if (sha256 == null) {
            throw new IllegalStateException("the stream was not read to its end");
        }
        return sha256;
    }
}
