package dev.builderd.storage.server.http;

import dev.builderd.storage.blob.ByteRange;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A single-range HTTP {@code Range} header (RFC 9110 section 14): {@code bytes=first-last},
 * {@code bytes=first-} or {@code bytes=-suffixLength}. Headers this class cannot honour
 * (other units, several ranges, malformed) are ignored, as the RFC allows, and the whole
 * representation is sent.
 */
final class RangeRequest {

    private static final Pattern SINGLE = Pattern.compile("bytes=\\s*(\\d{0,19})\\s*-\\s*(\\d{0,19})\\s*");

    /** The header asked for bytes that the blob does not have. */
    static final class Unsatisfiable extends Exception {
        Unsatisfiable() {
            super(null, null, false, false);
        }
    }

    private RangeRequest() {
    }

    /**
     * The range to send for a blob of {@code size} bytes, or empty to send it whole.
     *
     * @throws Unsatisfiable when the range starts at or past the end (answer 416)
     */
    static Optional<ByteRange> parse(String header, long size) throws Unsatisfiable {
        if (header == null) {
            return Optional.empty();
        }
        Matcher m = SINGLE.matcher(header);
        if (!m.matches() || (m.group(1).isEmpty() && m.group(2).isEmpty())) {
            return Optional.empty();
        }
        try {
            if (m.group(1).isEmpty()) {
                long suffix = Long.parseLong(m.group(2));
                if (suffix == 0) {
                    throw new Unsatisfiable();
                }
                long first = Math.max(0, size - suffix);
                return size == 0 ? Optional.empty() : Optional.of(ByteRange.inclusive(first, size - 1));
            }
            long first = Long.parseLong(m.group(1));
            if (first >= size) {
                throw new Unsatisfiable();
            }
            long last = m.group(2).isEmpty() ? size - 1 : Math.min(Long.parseLong(m.group(2)), size - 1);
            if (last < first) {
                return Optional.empty();
            }
            return Optional.of(ByteRange.inclusive(first, last));
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
    }
}
