package dev.builderd.storage.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.builderd.storage.blob.BlobKey;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Fuzzes {@link BlobKey}, the one owner of the path-safety rules: whatever string comes in, it is
 * either refused with {@link IllegalArgumentException} or it is a key that, resolved against any
 * directory, names a path strictly below that directory with exactly the key's segments, and that
 * every backend can store (its UTF-8 form round-trips, as object-store names must).
 *
 * <p>Regression mode (every build) runs the inputs under {@code BlobKeyFuzzTestInputs/}; see
 * docs/security-fuzzing.md for fuzzing longer.
 */
final class BlobKeyFuzzTest {

    private static final Path ROOT = Path.of("/srv/builderd/data");

    @FuzzTest(maxDuration = "2m")
    void parsedKeyNeverEscapesItsRoot(FuzzedDataProvider data) {
        String value = data.consumeRemainingAsString();
        BlobKey key;
        try {
            key = BlobKey.of(value);
        } catch (IllegalArgumentException refused) {
            assertThat(BlobKey.isValid(value)).isFalse();
            assertThat(refused.getMessage()).startsWith("invalid blob key");
            return;
        }
        assertThat(BlobKey.isValid(value)).isTrue();
        assertSafe(key);
    }

    /**
     * The same, over every Java string: each two bytes of the input are one {@code char}, so that
     * unpaired surrogates (which a JSON body's {@code \\ud800} escape produces, and which a UTF-16
     * decoder would replace) are tried too.
     */
    @FuzzTest(maxDuration = "2m")
    void anyJavaStringKeyNeverEscapesItsRoot(byte[] data) {
        String value = ByteBuffer.wrap(data, 0, data.length & ~1).asCharBuffer().toString();
        if (BlobKey.isValid(value)) {
            assertSafe(BlobKey.of(value));
        } else {
            assertThatThrownBy(() -> BlobKey.of(value)).isInstanceOf(IllegalArgumentException.class);
        }
    }

    /** Keys built by joining segments (how every layer builds them) obey the same rules. */
    @FuzzTest(maxDuration = "2m")
    void joinedKeyNeverEscapesItsRoot(FuzzedDataProvider data) {
        BlobKey parent = BlobKey.of("tenants", "mallory", "cache");
        String child = data.consumeRemainingAsString();
        BlobKey key;
        try {
            key = parent.resolve(child);
        } catch (IllegalArgumentException refused) {
            assertThatThrownBy(() -> BlobKey.of("tenants/mallory/cache/" + child)).isInstanceOf(IllegalArgumentException.class);
            return;
        }
        assertSafe(key);
        Path under = ROOT.resolve("tenants/mallory/cache");
        assertThat(ROOT.resolve(key.value()).normalize()).startsWithRaw(under).isNotEqualTo(under);
    }

    private static void assertSafe(BlobKey key) {
        String value = key.value();
        Path resolved = ROOT.resolve(value);
        assertThat(resolved.normalize()).as("key %s", value).isEqualTo(resolved).startsWithRaw(ROOT).isNotEqualTo(ROOT);
        assertThat(resolved.getNameCount() - ROOT.getNameCount()).isEqualTo(key.segments().size());
        assertThat(String.join("/", key.segments())).isEqualTo(value);
        assertThat(key.fileName()).isEqualTo(key.segments().get(key.segments().size() - 1));
        assertThat(value.length()).isBetween(1, BlobKey.MAX_LENGTH);
        assertThat(value).doesNotContain("\\", "\0");
        assertThat(new String(value.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8)).as("UTF-8 round trip").isEqualTo(value);
        assertThat(Path.of("/").resolve(value)).as("a path on this platform").isNotNull();
        assertThat(key.segments()).allSatisfy(segment -> assertThat(segment).isNotEmpty().isNotIn(".", ".."));
        assertThat(key.segments()).allSatisfy(segment -> assertThat(segment.getBytes(StandardCharsets.UTF_8).length)
                .as("a file name").isLessThanOrEqualTo(255));
    }
}
