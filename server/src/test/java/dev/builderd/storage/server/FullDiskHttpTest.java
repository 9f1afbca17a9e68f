package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.builderd.storage.server.DaemonFixture.Response;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

/**
 * Full disks, on real small tmpfs mounts: a nearly full root makes health degraded and shows in
 * the free-bytes metric; a full data root (SQLite included) refuses writes with a clear 507,
 * damages nothing already stored, and works again by itself when space returns.
 */
@ParameterizedClass
@EnumSource(value = MetadataKind.class, names = "SQLITE")
class FullDiskHttpTest extends HttpApiTestBase {

    private Path mounted;

    /** A fresh tmpfs of {@code size} (mount's syntax, e.g. 8m) beside the test's data root. */
    private Path tmpfs(String size) throws Exception {
        Path dir = Files.createDirectories(dataRoot.getParent().resolve(dataRoot.getFileName() + "-tmpfs"));
        Process mounting = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", dir.toString())
                .redirectErrorStream(true).start();
        String output = new String(mounting.getInputStream().readAllBytes());
        Assumptions.assumeTrue(mounting.waitFor() == 0, "mounting a tmpfs needs root: " + output);
        mounted = dir;
        return dir;
    }

    @AfterEach
    void unmount() throws Exception {
        if (mounted != null) {
            if (daemon != null) {
                daemon.close();
                daemon = null;
            }
            new ProcessBuilder("umount", mounted.toString()).inheritIO().start().waitFor();
            Files.deleteIfExists(mounted);
        }
    }

    @Test
    void aNearlyFullLocalRootMakesTheReportDegradedAndShowsInTheFreeBytes() throws Exception {
        Path small = tmpfs("2m");
        daemon = daemon.restartWith(Map.of("UNKEY_BUILDERD_CACHE_DIR", small.toString()));
        Files.write(small.resolve("filler"), new byte[1_950_000]);

        JsonNode health = get("/health/storage", ADMIN).json();

        assertThat(health.get("status").asText()).isEqualTo("degraded");
        JsonNode full = health.get("backends").get("filesystem:" + small);
        assertThat(full.get("status").asText()).isEqualTo("degraded");
        assertThat(full.get("free_space_bytes").asLong()).isLessThan(200_000);
        assertThat(get("/metrics", ADMIN).text()).containsPattern(
                "builderd_storage_free_bytes\\{path=\"" + Pattern.quote(small.toString()) + "\"} [0-9.E]+");
        assertThat(get("/health/live", null).status()).isEqualTo(200);
    }

    @Test
    void aFullDataRootRefusesWritesWith507DamagesNothingAndRecoversWhenSpaceReturns() throws Exception {
        Path small = tmpfs("16m");
        daemon = daemon.restartWith(Map.of("UNKEY_BUILDERD_DATA_DIR", small.toString()));
        String token = tenant("acme", "pro");
        build("acme", token, "b1");
        byte[] kept = bytes(1, 1 << 20);
        assertThat(upload("acme", token, "b1", "kept.img", kept).status()).isEqualTo(201);
        long free = Files.getFileStore(small).getUsableSpace();
        Path filler = small.resolve("filler");
        Files.write(filler, new byte[(int) (free - 4096)]);

        Response refused = upload("acme", token, "b1", "big.img", bytes(2, 2 << 20));
        Response cacheRefused = put("/v1/tenants/acme/cache/dependencies/npm/big.tgz", token, bytes(3, 2 << 20));

        assertProblem(refused, 507, "full", "nothing was stored");
        assertProblem(cacheRefused, 507, "full", "nothing was stored");
        assertThat(get(artifactPath("acme", "b1", "kept.img"), token).body()).as("intact").isEqualTo(kept);
        assertThat(get(artifactPath("acme", "b1", "big.img"), token).status()).isEqualTo(404);
        JsonNode usage = get("/v1/tenants/acme/usage", token).json().get("categories");
        assertThat(usage.get("artifacts").get("used_bytes").asLong()).as("the ledger holds what is stored").isEqualTo(kept.length);
        assertThat(usage.get("cache").get("used_bytes").asLong()).isZero();

        Files.delete(filler);

        await().untilAsserted(() -> assertThat(upload("acme", token, "b1", "big.img", bytes(2, 2 << 20)).status()).isEqualTo(201));
        assertThat(get(artifactPath("acme", "b1", "big.img"), token).body()).isEqualTo(bytes(2, 2 << 20));
        assertThat(complete("acme", token, "b1", "succeeded").status()).isEqualTo(200);
    }
}
