package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** The on-disk tree the daemon creates, and the per-category roots moving parts of it. */
@ParameterizedClass
@EnumSource(MetadataKind.class)
class LayoutHttpTest extends HttpApiTestBase {

    /**
     * A tenant directory's mode: 0700, or with the ACL (docs/security-filesystem.md) its mask in
     * the group bits while the owning group's own entry stays {@code ---}.
     */
    private static final String PRIVATE = dev.builderd.storage.core.fs.PosixAcls.find().isPresent() ? "rwxrwx---" : "rwx------";
    private static final List<String> CATEGORIES = List.of("workspace", "rootfs", "temp", "logs", "metadata");

    @Test
    void buildPathsAreAbsoluteExistingAndUnderTheDataRoot() throws IOException {
        String token = tenant("acme", "pro");
        JsonNode build = build("acme", token, "b1");
        Path root = dataRoot.toRealPath();
        for (String category : CATEGORIES) {
            Path path = path(build, category);
            assertThat(path).as(category).isAbsolute().isDirectory();
            assertThat(path.toRealPath()).as(category).isEqualTo(root.resolve("tenants/acme/builds/b1/" + category));
        }
        assertThat(mode(dataRoot.resolve("tenants/acme"))).isEqualTo(PRIVATE);
        assertThat(mode(path(build, "workspace"))).isEqualTo(PRIVATE);
    }

    @Test
    void dataRootHasTheFixedSkeleton() {
        for (String directory : List.of("tenants", "global/registry-cache", "global/system-temp", "global/metrics",
                "config/encryption-keys", "config/retention-policies")) {
            assertThat(dataRoot.resolve(directory)).as(directory).isDirectory();
        }
    }

    @Test
    void categoryRootsMoveTheirTrees(@TempDir Path scratch, @TempDir Path workspaces, @TempDir Path rootfs)
            throws IOException {
        daemon = daemon.restartWith(Map.of(
                "UNKEY_BUILDERD_SCRATCH_DIR", scratch.toString(),
                "UNKEY_BUILDERD_WORKSPACE_DIR", workspaces.toString(),
                "UNKEY_BUILDERD_ROOTFS_OUTPUT_DIR", rootfs.toString()));
        String token = tenant("acme", "pro");
        JsonNode build = build("acme", token, "b1");

        assertThat(path(build, "temp").toRealPath()).isEqualTo(scratch.toRealPath().resolve("tenants/acme/builds/b1/temp"));
        assertThat(path(build, "workspace").toRealPath())
                .isEqualTo(workspaces.toRealPath().resolve("tenants/acme/builds/b1/workspace"));
        assertThat(path(build, "rootfs").toRealPath()).isEqualTo(rootfs.toRealPath().resolve("tenants/acme/builds/b1/rootfs"));
        assertThat(path(build, "logs").toRealPath()).isEqualTo(dataRoot.toRealPath().resolve("tenants/acme/builds/b1/logs"));
        assertThat(dataRoot.resolve("tenants/acme/builds/b1/temp")).doesNotExist();
        assertThat(dataRoot.resolve("tenants/acme/builds/b1/workspace")).doesNotExist();
        assertThat(dataRoot.resolve("tenants/acme/builds/b1/rootfs")).doesNotExist();

        byte[] content = bytes(7, 4096);
        assertThat(upload("acme", token, "b1", "image.ext4", content).status()).isEqualTo(201);
        assertThat(rootfs.resolve("tenants/acme/builds/b1/rootfs/image.ext4")).hasBinaryContent(content);
        assertThat(rootfs.resolve("tenants/acme/builds/b1/rootfs/manifest.json")).isRegularFile();
        assertThat(get(artifactPath("acme", "b1", "image.ext4"), token).body()).isEqualTo(content);

        assertThat(put(buildPath("acme", "b1") + "/logs/build.log", token, "log\n").status()).isEqualTo(201);
        assertThat(dataRoot.resolve("tenants/acme/builds/b1/logs/build.log")).hasContent("log\n");
        assertThat(mode(scratch.resolve("tenants/acme"))).isEqualTo(PRIVATE);

        write(path(build, "temp").resolve("scratch.txt"), "x");
        write(path(build, "workspace").resolve("src/main.c"), "int main;");
        assertThat(complete("acme", token, "b1", "succeeded").status()).isEqualTo(200);
        assertThat(path(build, "temp")).doesNotExist();
        assertThat(path(build, "workspace")).doesNotExist();
        assertThat(rootfs.resolve("tenants/acme/builds/b1/rootfs/image.ext4")).exists();

        assertThat(delete("/v1/tenants/acme", ADMIN).status()).isEqualTo(204);
        for (Path root : List.of(dataRoot, scratch, workspaces, rootfs)) {
            assertThat(root.resolve("tenants/acme")).as("purged from %s", root).doesNotExist();
        }
    }

    static String mode(Path path) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(path, LinkOption.NOFOLLOW_LINKS));
    }
}
