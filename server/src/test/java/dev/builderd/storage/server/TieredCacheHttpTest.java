package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.builderd.storage.server.DaemonFixture.Response;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Caches on a real s3proxy behind the daemon's tiers: small entries are served from memory, big
 * ones from the disk tier after their first read, the tiers hold ciphertext for an encrypted
 * tenant, /metrics shows each tier, and deleting an entry or purging its tenant empties every tier.
 */
@ParameterizedClass
@EnumSource(value = MetadataKind.class, names = "SQLITE")
class TieredCacheHttpTest extends HttpApiTestBase {

    private static final String SMALL = "/v1/tenants/acme/cache/dependencies/npm/small-1.0.0.tgz";
    private static final String BIG = "/v1/tenants/acme/cache/dependencies/npm/big-1.0.0.tgz";

    @Override
    Map<String, String> backendEnvironment() {
        // Every category on one S3 backend: the tiered caches' store shares it with artifacts and logs.
        Map<String, String> env = new java.util.HashMap<>(RemoteBackendHttpTest.RemoteBackend.S3.environment());
        env.put("UNKEY_BUILDERD_CACHE_MEMORY_TIER_MAX_ENTRY_KB", "64");
        return env;
    }

    @Test
    void entriesAreServedFromTheFastestTierThatHoldsThemAsCiphertextAndShowInMetrics() throws IOException {
        String token = tenant("acme", "enterprise");
        byte[] small = bytes(1, 10_000);
        byte[] big = bytes(2, 300_000);
        assertThat(put(SMALL, token, small).status()).isEqualTo(201);
        assertThat(put(BIG, token, big).status()).isEqualTo(201);

        for (int i = 0; i < 2; i++) {
            assertThat(get(SMALL, token).body()).as("small, read %d", i).isEqualTo(small);
            assertThat(get(BIG, token).body()).as("big, read %d", i).isEqualTo(big);
        }

        String metrics = get("/metrics", ADMIN).text();
        assertThat(metrics)
                .as("the small entry was kept in memory by its write; the big one came from the remote, then from disk")
                .contains("builderd_cache_tier_requests_total{result=\"hit\",tier=\"memory\"} 2.0")
                .contains("builderd_cache_tier_requests_total{result=\"hit\",tier=\"disk\"} 1.0")
                .contains("builderd_cache_tier_requests_total{result=\"hit\",tier=\"remote\"} 1.0")
                .contains("builderd_cache_tier_requests_total{result=\"degraded\",tier=\"remote\"} 0.0")
                .contains("builderd_cache_tier_fills_total{tier=\"disk\"} 1.0")
                .contains("builderd_cache_tier_hit_ratio{tier=\"memory\"} 0.5")
                .contains("builderd_cache_tier_size_bytes{tier=\"disk\"}")
                .contains("builderd_cache_tier_max_bytes{tier=\"memory\"}");
        List<Path> onDisk = tierFiles();
        assertThat(onDisk).hasSize(1);
        byte[] stored = Files.readAllBytes(onDisk.get(0));
        assertThat(stored.length).as("ciphertext, a little longer").isGreaterThan(big.length);
        assertThat(indexOf(stored, java.util.Arrays.copyOfRange(big, 1000, 1032))).as("no plaintext on the local disk").isNegative();
    }

    @Test
    void warmingFillsTheDiskTierSoTheFirstReadIsLocal() {
        String token = tenant("acme", "enterprise");
        byte[] big = bytes(4, 300_000);
        assertThat(put(BIG, token, big).status()).isEqualTo(201);
        assertThat(tierFiles()).as("a big write goes through to the remote only").isEmpty();

        Response started = post("/v1/tenants/acme/cache-warming", ADMIN,
                "{\"type\":\"dependencies\",\"keys\":[\"npm/big-1.0.0.tgz\",\"npm/absent.tgz\"]}");
        var done = org.awaitility.Awaitility.await().until(() -> get("/v1/tenants/acme/cache-warming/"
                + started.json().get("id").asText(), ADMIN).json(), job -> !job.get("state").asText().equals("running"));

        assertThat(done.get("fetched").asLong()).isEqualTo(1);
        assertThat(done.get("missing").asLong()).isEqualTo(1);
        assertThat(done.get("bytes_fetched").asLong()).as("as stored: ciphertext").isGreaterThan(big.length);
        assertThat(tierFiles()).hasSize(1);
        assertThat(get(BIG, token).body()).isEqualTo(big);
        assertThat(get("/metrics", ADMIN).text()).contains("builderd_cache_tier_requests_total{result=\"hit\",tier=\"disk\"} 1.0");
    }

    @Test
    void aDeletedEntryIsGoneFromEveryTier() {
        String token = tenant("acme", "pro");
        assertThat(put(BIG, token, bytes(3, 300_000)).status()).isEqualTo(201);
        assertThat(get(BIG, token).status()).isEqualTo(200);
        assertThat(tierFiles()).hasSize(1);

        assertThat(delete(BIG, token).status()).isEqualTo(204);

        assertThat(get(BIG, token).status()).isEqualTo(404);
        assertThat(tierFiles()).isEmpty();
    }

    @Test
    void aPurgedTenantsEntriesAreGoneFromEveryTierBeforeItsNameIsUsedAgain() {
        String token = tenant("acme", "pro");
        assertThat(put(SMALL, token, bytes(4, 10_000)).status()).isEqualTo(201);
        assertThat(put(BIG, token, bytes(5, 300_000)).status()).isEqualTo(201);
        assertThat(get(BIG, token).status()).isEqualTo(200);

        assertThat(delete("/v1/tenants/acme", ADMIN).status()).isEqualTo(204);
        String again = tenant("acme", "pro");

        assertThat(get(SMALL, again).status()).as("not served from memory").isEqualTo(404);
        assertThat(get(BIG, again).status()).as("not served from disk").isEqualTo(404);
        assertThat(tierFiles()).isEmpty();
    }

    private List<Path> tierFiles() {
        Path blobs = dataRoot.resolve("global/system-temp/cache-tier/blobs");
        try (Stream<Path> files = Files.walk(blobs)) {
            return files.filter(Files::isRegularFile).toList();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i <= haystack.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
