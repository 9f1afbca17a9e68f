package dev.builderd.storage.blob;

/**
 * A contiguous range of a blob's bytes: from {@code offset}, at most {@code length} bytes
 * ({@link #TO_END} for everything after {@code offset}). A range that runs past the end of a
 * blob is cut at the end; one that starts past the end reads nothing.
 */
public record ByteRange(long offset, long length) {

    /** Length meaning "up to the end of the blob". */
    public static final long TO_END = Long.MAX_VALUE;

    /** The whole blob. */
    public static final ByteRange ALL = new ByteRange(0, TO_END);

    public ByteRange {
        if (offset < 0) {
            throw new IllegalArgumentException("range offset must be >= 0, was " + offset);
        }
        if (length < 0) {
            throw new IllegalArgumentException("range length must be >= 0, was " + length);
        }
    }

    /** Bytes {@code first..last}, both inclusive, as in an HTTP {@code Range} header. */
    public static ByteRange inclusive(long first, long last) {
        if (last < first) {
            throw new IllegalArgumentException("range end " + last + " is before its start " + first);
        }
        return new ByteRange(first, last - first + 1);
    }

    /** Whether this range covers the whole blob. */
    public boolean isAll() {
        return offset == 0 && length == TO_END;
    }

    /** How many bytes this range selects from a blob of {@code size} bytes. */
    public long lengthWithin(long size) {
        if (offset >= size) {
            return 0;
        }
        return Math.min(length, size - offset);
    }

    /**
     * The whole blob's size as an HTTP {@code Content-Range: bytes first-last/size} header gives it,
     * or -1 when the header is absent or the size unknown ({@code *}).
     */
    public static long totalSizeOf(String contentRange) {
        if (contentRange == null) {
            return -1;
        }
        int slash = contentRange.lastIndexOf('/');
        try {
            return slash < 0 ? -1 : Long.parseLong(contentRange.substring(slash + 1).strip());
        } catch (NumberFormatException e) {
            return -1;
        }
    }
}
