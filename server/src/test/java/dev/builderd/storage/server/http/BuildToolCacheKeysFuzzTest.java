package dev.builderd.storage.server.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.core.error.InvalidInputException;
import java.nio.file.Path;
import java.util.List;

/**
 * Fuzzes the keys the build-tool cache protocols send ({@link BuildToolCaches}: Bazel ac/cas,
 * Gradle, ccache, Turborepo): a key is refused with {@link InvalidInputException} alone, or it
 * maps to a dependencies key under the protocol's own prefix that, as a blob key, stays inside
 * the tenant's dependencies cache.
 */
final class BuildToolCacheKeysFuzzTest {

    private static final Path ROOT = Path.of("/srv/builderd/data");
    private static final Path DEPENDENCIES = ROOT.resolve("tenants/mallory/cache/dependencies");

    @FuzzTest(maxDuration = "1m")
    void bazel(FuzzedDataProvider data) {
        assertMapsInside(BuildToolCaches.BAZEL, data.pickValue(List.of("ac/", "cas/", "")) + data.consumeRemainingAsString(), "bazel/");
    }

    @FuzzTest(maxDuration = "1m")
    void gradle(FuzzedDataProvider data) {
        assertMapsInside(BuildToolCaches.GRADLE, data.consumeRemainingAsString(), "gradle/");
    }

    @FuzzTest(maxDuration = "1m")
    void ccache(FuzzedDataProvider data) {
        assertMapsInside(BuildToolCaches.CCACHE, data.consumeRemainingAsString(), "ccache/");
    }

    @FuzzTest(maxDuration = "1m")
    void turbo(FuzzedDataProvider data) {
        assertMapsInside(BuildToolCaches.TURBO, data.consumeRemainingAsString(), "turbo/");
    }

    private static void assertMapsInside(BuildToolCaches.KeyRule rule, String sent, String prefix) {
        String key;
        try {
            key = rule.dependenciesKey(sent);
        } catch (InvalidInputException refused) {
            assertThat(refused.getMessage()).startsWith(rule.tool()).doesNotContainPattern("[^\\x20-\\x7e…]");
            return;
        }
        assertThat(key).startsWith(prefix).matches("[a-z]+/(?:(?:ac|cas)/)?[0-9a-v]+");
        Path resolved = ROOT.resolve(BlobKey.of("tenants/mallory/cache/dependencies/" + key).value());
        assertThat(resolved.normalize()).isEqualTo(resolved).startsWithRaw(DEPENDENCIES).isNotEqualTo(DEPENDENCIES);
    }
}
