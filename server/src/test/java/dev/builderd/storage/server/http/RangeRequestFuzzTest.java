package dev.builderd.storage.server.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.builderd.storage.blob.ByteRange;
import java.util.Optional;

/**
 * Fuzzes the {@code Range} header parser against blobs of any size: it answers the whole blob,
 * a range that lies within the blob, or {@link RangeRequest.Unsatisfiable}, and nothing else; a
 * satisfiable range is never refused.
 */
final class RangeRequestFuzzTest {

    @FuzzTest(maxDuration = "2m")
    void rangeIsWithinTheBlobOrRefused(FuzzedDataProvider data) {
        long size = data.pickValue(new long[] {0, 1, 100, 1L << 40, Long.MAX_VALUE - 1, data.consumeLong(0, Long.MAX_VALUE)});
        String header = data.consumeRemainingAsString();
        Optional<ByteRange> range;
        try {
            range = RangeRequest.parse(header, size);
        } catch (RangeRequest.Unsatisfiable refused) {
            assertThat(header).startsWith("bytes=");
            return;
        }
        range.ifPresent(r -> {
            assertThat(r.offset()).as("%s of %d", header, size).isBetween(0L, size - 1);
            long length = r.lengthWithin(size);
            assertThat(length).isPositive();
            assertThat(r.offset() + length).isLessThanOrEqualTo(size);
        });
    }
}
