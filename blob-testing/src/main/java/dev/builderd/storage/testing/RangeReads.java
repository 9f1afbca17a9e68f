package dev.builderd.storage.testing;

import static org.assertj.core.api.Assertions.assertThat;

import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/** Checks that ranged reads of a stored blob return exactly the expected bytes. */
public final class RangeReads {

    private RangeReads() {
    }

    /**
     * Reads {@code key} whole, by edge ranges around {@code partSize} boundaries and past the end,
     * and by {@code randomRanges} ranges drawn from {@code seed}; each must equal the matching
     * slice of {@code data}. Failure messages name the range and the seed.
     */
    public static void assertEveryRangeReadsExactly(BlobStore store, BlobKey key, byte[] data, int partSize, long seed,
            int randomRanges) throws IOException {
        int size = data.length;
        List<ByteRange> ranges = new ArrayList<>(List.of(
                ByteRange.ALL, new ByteRange(1, ByteRange.TO_END), new ByteRange(partSize - 1L, 2L * partSize + 2),
                new ByteRange(Math.max(0, size - 2L * partSize - 1), 2L * partSize + 1), new ByteRange(3, size + 100L),
                new ByteRange(Math.max(0, size - 3L), ByteRange.TO_END), new ByteRange(0, 2L * partSize)));
        Random random = new Random(seed);
        for (int i = 0; i < randomRanges; i++) {
            ranges.add(new ByteRange(random.nextInt(size), 1 + random.nextInt(size)));
        }
        for (ByteRange range : ranges) {
            int from = (int) Math.min(range.offset(), size);
            int to = (int) (from + range.lengthWithin(size));
            try (InputStream in = store.open(key, range)) {
                assertThat(Arrays.equals(in.readAllBytes(), Arrays.copyOfRange(data, from, to)))
                        .as(range + " (seed " + seed + ")").isTrue();
            }
        }
    }
}
