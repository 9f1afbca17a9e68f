package dev.builderd.storage.blob;

import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The name of a blob inside a {@link BlobStore}: a relative, slash-separated path such as
 * {@code tenants/acme/builds/b1/rootfs/filesystem.ext4}.
 *
 * <p>Every path-safety rule of the project lives here, so that a key that exists is safe to map
 * onto a filesystem path or an object-store name: it is not empty and at most
 * {@value #MAX_LENGTH} characters, each segment at most {@value #MAX_SEGMENT_BYTES} bytes as UTF-8;
 * it does not start or end with {@code /} and has no empty
 * segment; no segment is {@code .} or {@code ..}; it contains no backslash, NUL or other
 * control character, and it is valid Unicode (no unpaired UTF-16 surrogate, which no filesystem
 * path and no object name can hold). Everything else (spaces, {@code +}, unicode) is legal.
 */
public record BlobKey(String value) implements Comparable<BlobKey> {

    /** Longest key accepted; object stores limit names to 1024 bytes. */
    public static final int MAX_LENGTH = 900;
    /** Longest segment accepted, in UTF-8 bytes: the longest file name (NAME_MAX) of Linux filesystems. */
    public static final int MAX_SEGMENT_BYTES = 255;

    public BlobKey {
        String problem = problemWith(value);
        if (problem != null) {
            throw new IllegalArgumentException("invalid blob key '" + printable(value) + "': " + problem);
        }
    }

    /** Parses {@code value}; throws {@link IllegalArgumentException} naming the rule it breaks. */
    public static BlobKey of(String value) {
        return new BlobKey(value);
    }

    /** Joins already-safe segments with {@code /} and validates the result. */
    public static BlobKey of(String first, String... more) {
        return new BlobKey(first + (more.length == 0 ? "" : "/" + String.join("/", more)));
    }

    /** A key below this one: {@code this/child}. */
    public BlobKey resolve(String child) {
        return new BlobKey(value + "/" + child);
    }

    /** The segments of this key, in order. */
    public List<String> segments() {
        return List.of(value.split("/"));
    }

    /** The last segment. */
    public String fileName() {
        return value.substring(value.lastIndexOf('/') + 1);
    }

    /** Whether {@code value} would be a valid key. */
    public static boolean isValid(String value) {
        return problemWith(value) == null;
    }

    private static String problemWith(String value) {
        if (value == null || value.isEmpty()) {
            return "it is empty";
        }
        if (value.length() > MAX_LENGTH) {
            return "it is longer than " + MAX_LENGTH + " characters";
        }
        if (value.startsWith("/")) {
            return "it is absolute (starts with '/')";
        }
        if (value.endsWith("/")) {
            return "it ends with '/'";
        }
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c == '\\') {
                return "it contains a backslash";
            }
            if (c == 0) {
                return "it contains a NUL character";
            }
            if (Character.isISOControl(c)) {
                return "it contains a control character";
            }
            if (Character.isHighSurrogate(c) && i + 1 < value.length() && Character.isLowSurrogate(value.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                return "it is not valid Unicode (an unpaired UTF-16 surrogate at index " + i + ")";
            }
        }
        for (String segment : value.split("/", -1)) {
            if (segment.isEmpty()) {
                return "it contains an empty segment ('//')";
            }
            if (segment.equals(".") || segment.equals("..")) {
                return "it contains a '" + segment + "' segment";
            }
            if (segment.getBytes(StandardCharsets.UTF_8).length > MAX_SEGMENT_BYTES) {
                return "a segment is longer than " + MAX_SEGMENT_BYTES + " bytes as UTF-8, the longest file name a filesystem takes";
            }
        }
        return null;
    }

    private static String printable(String value) {
        if (value == null) {
            return "null";
        }
        StringBuilder out = new StringBuilder();
        value.codePoints().limit(120).forEach(cp -> {
            if (Character.isISOControl(cp) || Character.getType(cp) == Character.SURROGATE) {
                out.append(String.format("\\u%04x", cp));
            } else {
                out.appendCodePoint(cp);
            }
        });
        return value.length() > 120 ? out + "…" : out.toString();
    }

    /**
     * Orders keys by their UTF-8 bytes (equivalently, by code point), the order object stores list
     * in, so that every backend lists in the same order.
     */
    @Override
    public int compareTo(BlobKey other) {
        return compareKeys(value, other.value);
    }

    /** The order of {@link #compareTo}, for key strings and prefixes that are not keys. */
    public static int compareKeys(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i);
            int cb = b.codePointAt(j);
            if (ca != cb) {
                return Integer.compare(ca, cb);
            }
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Integer.compare(a.length() - i, b.length() - j);
    }

    @Override
    public String toString() {
        return value;
    }
}
