package dev.builderd.storage.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import dev.builderd.storage.blob.BlobKey;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Every validation rule of {@link BlobKey}, its order and its helpers. */
final class BlobKeyTest {

    static Stream<Arguments> invalidKeys() {
        return Stream.of(
                arguments(null, "it is empty"),
                arguments("", "it is empty"),
                arguments("x".repeat(BlobKey.MAX_LENGTH + 1), "longer than " + BlobKey.MAX_LENGTH + " characters"),
                arguments("/", "absolute"),
                arguments("/etc/passwd", "absolute"),
                arguments("a/", "ends with '/'"),
                arguments("a/b/", "ends with '/'"),
                arguments("a//b", "empty segment ('//')"),
                arguments(".", "a '.' segment"),
                arguments("./a", "a '.' segment"),
                arguments("a/./b", "a '.' segment"),
                arguments("a/.", "a '.' segment"),
                arguments("..", "a '..' segment"),
                // Found by BlobKeyFuzzTest: a lone surrogate (a JSON "\\ud800" escape) was a valid key but no path.
                arguments("af\u00e9/\ud83d", "unpaired UTF-16 surrogate at index 4"),
                // Found by ImportFromFuzzTest: a segment past NAME_MAX was a valid key but no file (ENAMETOOLONG, a 503).
                arguments("a/" + "x".repeat(BlobKey.MAX_SEGMENT_BYTES + 1), "a segment is longer than 255 bytes"),
                arguments("\u00e9".repeat(128), "a segment is longer than 255 bytes"),
                arguments("a\udc00b", "unpaired UTF-16 surrogate at index 1"),
                arguments("\ude00\ud83d", "unpaired UTF-16 surrogate at index 0"),
                arguments("../a", "a '..' segment"),
                arguments("a/../../etc", "a '..' segment"),
                arguments("a/..", "a '..' segment"),
                arguments("a\\b", "backslash"),
                arguments("..\\a", "backslash"),
                arguments("a\0b", "NUL character"),
                arguments("a\nb", "control character"),
                arguments("a\rb", "control character"),
                arguments("tab\there", "control character"),
                arguments("esc\u001b[31m", "control character"),
                arguments("del\u007f", "control character"),
                arguments("c1\u0085next-line", "control character"));
    }

    @ParameterizedTest
    @MethodSource("invalidKeys")
    void invalidKeysAreRejectedNamingTheRule(String value, String rule) {
        assertThat(BlobKey.isValid(value)).isFalse();
        assertThatThrownBy(() -> BlobKey.of(value))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(rule)
                .hasMessageStartingWith("invalid blob key '");
    }

    @ParameterizedTest
    @ValueSource(strings = {"a\nb", "a\0b", "esc\u001b[31m", "c1\u0085"})
    void theMessageShowsControlCharactersEscaped(String value) {
        assertThatThrownBy(() -> BlobKey.of(value))
                .message()
                .doesNotContain(value)
                .matches(message -> message.chars().noneMatch(Character::isISOControl), "has no control characters")
                .containsPattern("\\\\u00[0-9a-f]{2}");
    }

    @Test
    void theMessageOfAVeryLongKeyIsShortened() {
        assertThatThrownBy(() -> BlobKey.of("y".repeat(10_000)))
                .message()
                .hasSizeLessThan(300)
                .contains("…");
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "a", "a b", " ", "a+b", "100%", "k=v", "~user", "a/b.", "a.", "...", "..a", "a..", ".a/.b", "-", "#!",
        "ünïcödé", "日本語/ファイル", "\uD83D\uDE00", "\uFFFD", "sha256:abc", "tenants/acme/builds/b1/rootfs/filesystem.ext4"})
    void oddButLegalKeysAreAccepted(String value) {
        assertThat(BlobKey.isValid(value)).isTrue();
        assertThat(BlobKey.of(value).value()).isEqualTo(value);
        assertThat(BlobKey.of(value).toString()).isEqualTo(value);
    }

    @Test
    void theLongestKeyIsAccepted() {
        String segment = "x".repeat(BlobKey.MAX_SEGMENT_BYTES);
        String longest = String.join("/", segment, segment, segment, "y".repeat(BlobKey.MAX_LENGTH - 3 * 256));

        assertThat(BlobKey.of(longest).value()).hasSize(BlobKey.MAX_LENGTH);
    }

    @Test
    void keysAreValuesWithEquality() {
        assertThat(BlobKey.of("a/b")).isEqualTo(new BlobKey("a/b")).hasSameHashCodeAs(new BlobKey("a/b"));
        assertThat(BlobKey.of("a/b")).isNotEqualTo(BlobKey.of("a/c"));
    }

    @Test
    void ofJoinsSegmentsAndValidatesTheResult() {
        assertThat(BlobKey.of("a")).isEqualTo(new BlobKey("a"));
        assertThat(BlobKey.of("a", "b", "c").value()).isEqualTo("a/b/c");
        assertThat(BlobKey.of("tenants", "acme", "cache/npm").value()).isEqualTo("tenants/acme/cache/npm");
        assertThat(BlobKey.of("a", new String[0]).value()).isEqualTo("a");

        assertThatThrownBy(() -> BlobKey.of("a", "..")).hasMessageContaining("'..' segment");
        assertThatThrownBy(() -> BlobKey.of("a", "")).hasMessageContaining("ends with '/'");
        assertThatThrownBy(() -> BlobKey.of("a", "", "b")).hasMessageContaining("empty segment");
        assertThatThrownBy(() -> BlobKey.of("", "b")).hasMessageContaining("absolute");
    }

    @Test
    void resolveSegmentsAndFileName() {
        BlobKey key = BlobKey.of("tenants/acme").resolve("logs/build.log");

        assertThat(key.value()).isEqualTo("tenants/acme/logs/build.log");
        assertThat(key.segments()).containsExactly("tenants", "acme", "logs", "build.log");
        assertThat(key.fileName()).isEqualTo("build.log");
        assertThat(BlobKey.of("single").fileName()).isEqualTo("single");
        assertThat(BlobKey.of("single").segments()).containsExactly("single");
        assertThatThrownBy(() -> key.resolve("../escape")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void orderIsByCodePointNotByUtf16Unit() {
        String replacement = "\uFFFD";
        String privateUse = "\uE000";
        String emoji = "\uD83D\uDE00"; // U+1F600, outside the BMP: a surrogate pair in UTF-16

        // String.compareTo compares UTF-16 units: the surrogate 0xD83D sorts before 0xE000 and 0xFFFD.
        assertThat(emoji.compareTo(replacement)).isNegative();
        assertThat(emoji.compareTo(privateUse)).isNegative();
        // Code-point (and UTF-8 byte) order puts U+1F600 after every BMP character.
        assertThat(BlobKey.compareKeys(emoji, replacement)).isPositive();
        assertThat(BlobKey.compareKeys(emoji, privateUse)).isPositive();
        assertThat(BlobKey.compareKeys(privateUse, replacement)).isNegative();
        assertThat(BlobKey.of(emoji).compareTo(BlobKey.of(replacement))).isPositive();
    }

    @Test
    void orderAroundTheSlash() {
        List<String> sorted = Stream.of("a0", "a/b", "a-c", "a", "a.b", "a/b/c", "ab", "A", "a/")
                .sorted(BlobKey::compareKeys).toList();

        assertThat(sorted).containsExactly("A", "a", "a-c", "a.b", "a/", "a/b", "a/b/c", "a0", "ab");
        assertThat(BlobKey.compareKeys("a", "a")).isZero();
        assertThat(BlobKey.compareKeys("", "a")).isNegative();
        assertThat(BlobKey.compareKeys("a", "")).isPositive();
        assertThat(BlobKey.compareKeys("ab", "a")).isPositive();
    }

    @Test
    void orderIsTheUtf8ByteOrderForRandomKeys() {
        long seed = Long.getLong("builderd.test.seed", new SecureRandom().nextLong());
        SplittableRandom random = new SplittableRandom(seed);
        for (int i = 0; i < 20_000; i++) {
            String a = randomText(random);
            String b = random.nextInt(4) == 0 ? a + randomText(random) : randomText(random);
            int expected = Integer.signum(Arrays.compareUnsigned(
                    a.getBytes(StandardCharsets.UTF_8), b.getBytes(StandardCharsets.UTF_8)));

            assertThat(Integer.signum(BlobKey.compareKeys(a, b)))
                    .as("compareKeys(%s, %s) (seed %d; replay with -Dbuilderd.test.seed=%d)", escape(a), escape(b), seed, seed)
                    .isEqualTo(expected);
            assertThat(Integer.signum(BlobKey.compareKeys(b, a))).as("antisymmetric (seed %d)", seed).isEqualTo(-expected);
        }
    }

    /** Short text drawn from ASCII, the rest of the BMP (without surrogates) and the supplementary planes. */
    private static String randomText(SplittableRandom random) {
        StringBuilder text = new StringBuilder();
        int length = random.nextInt(5);
        for (int i = 0; i < length; i++) {
            int codePoint = switch (random.nextInt(4)) {
                case 0 -> random.nextInt('a', 'e');
                case 1 -> random.nextInt(0x20, 0x80);
                case 2 -> {
                    int c = random.nextInt(0x80, 0x10000);
                    yield Character.isSurrogate((char) c) ? 0xFFFD : c;
                }
                default -> random.nextInt(0x10000, 0x110000);
            };
            text.appendCodePoint(codePoint);
        }
        return text.toString();
    }

    private static String escape(String text) {
        StringBuilder out = new StringBuilder();
        text.codePoints().forEach(cp -> out.append(cp < 0x80 && cp >= 0x20 ? String.valueOf((char) cp) : String.format("\\u{%x}", cp)));
        return out.toString();
    }
}
