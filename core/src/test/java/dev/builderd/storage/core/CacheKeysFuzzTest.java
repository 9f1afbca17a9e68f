package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.core.CacheService.CacheType;
import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.model.TenantId;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Fuzzes the keys of every cache type ({@link CacheService#tenantKey}, {@link
 * CacheService#globalKey}), which come straight from request paths and JSON bodies: a key is
 * refused with {@link InvalidInputException} alone, or it becomes a blob key that, resolved
 * against the data root, stays inside the tenant's directory of that cache type (or the global
 * registry cache) and obeys the type's documented shape.
 */
final class CacheKeysFuzzTest {

    private static final Path ROOT = Path.of("/srv/builderd/data");
    private static final TenantId MALLORY = TenantId.of("mallory");
    private static final Pattern LAYER_DIGEST = Pattern.compile("sha256:[0-9a-f]{64}");
    private static final List<String> DEPENDENCY_PREFIXES = List.of("npm/", "pip/", "maven/", "bazel/ac/", "bazel/cas/",
            "gradle/", "ccache/", "turbo/");

    @FuzzTest(maxDuration = "1m")
    void dockerLayerKey(FuzzedDataProvider data) {
        assertStaysInside(CacheType.DOCKER_LAYERS, data.consumeRemainingAsString());
    }

    @FuzzTest(maxDuration = "1m")
    void dependenciesKey(FuzzedDataProvider data) {
        // Most inputs start with a known prefix, so the fuzzer spends its time on the path rules.
        String key = (data.consumeBoolean() ? data.pickValue(DEPENDENCY_PREFIXES) : "") + data.consumeRemainingAsString();
        assertStaysInside(CacheType.DEPENDENCIES, key);
    }

    @FuzzTest(maxDuration = "1m")
    void gitReposKey(FuzzedDataProvider data) {
        assertStaysInside(CacheType.GIT_REPOS, data.consumeRemainingAsString());
    }

    @FuzzTest(maxDuration = "1m")
    void globalRegistryDigest(FuzzedDataProvider data) {
        String digest = data.consumeRemainingAsString();
        Throwable thrown = catchThrowable(() -> CacheService.globalKey(digest));
        if (LAYER_DIGEST.matcher(digest).matches()) {
            assertThat(thrown).isNull();
            assertThat(CacheService.globalKey(digest).value()).isEqualTo("global/registry-cache/" + digest);
        } else {
            assertThat(thrown).isInstanceOf(InvalidInputException.class);
        }
    }

    private static void assertStaysInside(CacheType type, String key) {
        BlobKey blobKey;
        try {
            blobKey = CacheService.tenantKey(MALLORY, type, key);
        } catch (InvalidInputException refused) {
            assertThat(refused.getMessage()).isNotBlank().doesNotContainPattern("\\p{Cntrl}");
            return;
        }
        Path typeRoot = ROOT.resolve("tenants/mallory/cache/" + type.wireName());
        Path resolved = ROOT.resolve(blobKey.value());
        assertThat(resolved.normalize()).as("key %s", key).isEqualTo(resolved).startsWithRaw(typeRoot).isNotEqualTo(typeRoot);
        assertThat(blobKey.value()).isEqualTo("tenants/mallory/cache/" + type.wireName() + "/" + key);
        assertThat(key.length()).isLessThanOrEqualTo(512);
        assertThat(blobKey.segments()).noneMatch(segment -> segment.startsWith("."));
        switch (type) {
            case DOCKER_LAYERS -> assertThat(key).matches(LAYER_DIGEST);
            case DEPENDENCIES -> assertThat(DEPENDENCY_PREFIXES).anyMatch(key::startsWith);
            case GIT_REPOS -> assertThat(key).isNotEmpty();
        }
    }
}
