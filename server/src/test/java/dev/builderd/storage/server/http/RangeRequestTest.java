package dev.builderd.storage.server.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.blob.ByteRange;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class RangeRequestTest {

    @Test
    void singleRangesOfEachForm() throws Exception {
        assertThat(RangeRequest.parse("bytes=0-99", 1000)).contains(ByteRange.inclusive(0, 99));
        assertThat(RangeRequest.parse("bytes=900-", 1000)).contains(ByteRange.inclusive(900, 999));
        assertThat(RangeRequest.parse("bytes=-10", 1000)).contains(ByteRange.inclusive(990, 999));
        assertThat(RangeRequest.parse("bytes=-5000", 1000)).contains(ByteRange.inclusive(0, 999));
        assertThat(RangeRequest.parse("bytes=990-5000", 1000)).contains(ByteRange.inclusive(990, 999));
    }

    @ParameterizedTest
    @ValueSource(strings = {"bytes=1000-", "bytes=1000-1001", "bytes=-0"})
    void rangesPastTheEndAreUnsatisfiable(String header) {
        assertThatThrownBy(() -> RangeRequest.parse(header, 1000)).isInstanceOf(RangeRequest.Unsatisfiable.class);
    }

    @ParameterizedTest
    @ValueSource(strings = {"items=0-1", "bytes=0-1,5-6", "bytes=5-2", "bytes=-", "bytes=x-y", "bytes=99999999999999999999-"})
    void headersItCannotHonourAreIgnored(String header) throws Exception {
        assertThat(RangeRequest.parse(header, 1000)).isEqualTo(Optional.empty());
    }

    @Test
    void noHeaderMeansTheWholeBlob() throws Exception {
        assertThat(RangeRequest.parse(null, 10)).isEmpty();
    }
}
