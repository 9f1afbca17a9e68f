package dev.builderd.storage.blob.azure;

import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import java.util.Comparator;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.PriorityQueue;

/**
 * Puts a listing that is in UTF-16 code-unit order (Azurite's) or already in code-point order
 * (Azure's, UTF-8 byte order) into code-point order ({@link BlobKey} order), lazily.
 *
 * <p>The two orders differ only where one name has a surrogate (a character above U+FFFF) and
 * the other a character U+E000..U+FFFF at the first position they differ. After receiving name
 * {@code L}, every later name is, in code-point order, above {@code L} if {@code L} has no
 * surrogate, else at least {@code P + U+E000} where {@code P} is {@code L} before its first
 * surrogate. Held names below that bound are released in order. Only names with a surrogate are
 * ever held back, until the listing moves past their prefix.
 */
final class CodePointOrder implements Iterator<BlobInfo> {

    private static final Comparator<BlobInfo> ORDER = Comparator.comparing(BlobInfo::key);

    private final Iterator<BlobInfo> source;
    private final PriorityQueue<BlobInfo> held = new PriorityQueue<>(ORDER);
    private String bound = "";
    private boolean boundInclusive;

    CodePointOrder(Iterator<BlobInfo> source) {
        this.source = source;
    }

    @Override
    public boolean hasNext() {
        while (true) {
            BlobInfo first = held.peek();
            if (first != null && (!source.hasNext() || releasable(first.key().value()))) {
                return true;
            }
            if (!source.hasNext()) {
                return false;
            }
            BlobInfo received = source.next();
            held.add(received);
            String name = received.key().value();
            int surrogate = firstSurrogate(name);
            if (surrogate < 0) {
                bound = name;
                boundInclusive = true;
            } else {
                bound = name.substring(0, surrogate) + '\uE000';
                boundInclusive = false;
            }
        }
    }

    private boolean releasable(String name) {
        int c = BlobKey.compareKeys(name, bound);
        return c < 0 || c == 0 && boundInclusive;
    }

    @Override
    public BlobInfo next() {
        if (!hasNext()) {
            throw new NoSuchElementException();
        }
        return held.poll();
    }

    private static int firstSurrogate(String name) {
        for (int i = 0; i < name.length(); i++) {
            if (Character.isSurrogate(name.charAt(i))) {
                return i;
            }
        }
        return -1;
    }
}
