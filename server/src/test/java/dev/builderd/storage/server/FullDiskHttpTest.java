package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.builderd.storage.server.DaemonFixture.Response;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** A local root whose filesystem is nearly full (a real 2 MiB tmpfs): health says degraded, the metric shows it, the daemon lives. */
@ParameterizedClass
@EnumSource(value = MetadataKind.class, names = "SQLITE")
class FullDiskHttpTest extends HttpApiTestBase {

    @Test
    void aNearlyFullLocalRootMakesTheReportDegradedAndShowsInTheFreeBytes() throws Exception {
        java.nio.file.Path small = java.nio.file.Files.createDirectories(dataRoot.getParent().resolve(dataRoot.getFileName() + "-tmpfs"));
        Process mounting = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", small.toString())
                .redirectErrorStream(true).start();
        String output = new String(mounting.getInputStream().readAllBytes());
        org.junit.jupiter.api.Assumptions.assumeTrue(mounting.waitFor() == 0, "mounting a tmpfs needs root: " + output);
        try {
            daemon = daemon.restartWith(java.util.Map.of("UNKEY_BUILDERD_CACHE_DIR", small.toString()));
            java.nio.file.Files.write(small.resolve("filler"), new byte[1_950_000]);

            JsonNode health = get("/health/storage", ADMIN).json();

            assertThat(health.get("status").asText()).isEqualTo("degraded");
            JsonNode full = health.get("backends").get("filesystem:" + small);
            assertThat(full.get("status").asText()).isEqualTo("degraded");
            assertThat(full.get("free_space_bytes").asLong()).isLessThan(200_000);
            assertThat(get("/metrics", ADMIN).text()).containsPattern(
                    "builderd_storage_free_bytes\\{path=\"" + java.util.regex.Pattern.quote(small.toString()) + "\"} [0-9.E]+");
            assertThat(get("/health/live", null).status()).isEqualTo(200);
        } finally {
            daemon.close();
            daemon = null;
            new ProcessBuilder("umount", small.toString()).inheritIO().start().waitFor();
            java.nio.file.Files.deleteIfExists(small);
        }
    }
}
