package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.builderd.storage.server.DaemonFixture.Response;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Links planted by an untrusted build process: cleaning never follows them, and import never
 * publishes anything from outside the build.
 */
@ParameterizedClass
@EnumSource(MetadataKind.class)
class SymlinkSafetyHttpTest extends HttpApiTestBase {

    @TempDir
    Path outside;

    private String token;
    private JsonNode build;

    private void plantLinkInWorkspace() throws IOException {
        token = tenant("acme", "pro");
        build = build("acme", token, "b1");
        write(outside.resolve("precious/data.txt"), "precious");
        Files.createSymbolicLink(path(build, "workspace").resolve("escape"), outside.resolve("precious"));
        write(path(build, "workspace").resolve("own.txt"), "own");
    }

    private void assertOutsideIntactAndWorkspaceCleaned() {
        assertThat(outside.resolve("precious/data.txt")).hasContent("precious");
        assertThat(path(build, "workspace")).doesNotExist();
    }

    @Test
    void completeDoesNotFollowALinkInTheWorkspace() throws IOException {
        plantLinkInWorkspace();
        assertThat(complete("acme", token, "b1", "succeeded").status()).isEqualTo(200);
        assertOutsideIntactAndWorkspaceCleaned();
    }

    @Test
    void deleteDoesNotFollowALinkInTheWorkspace() throws IOException {
        plantLinkInWorkspace();
        assertThat(delete(buildPath("acme", "b1"), token).status()).isEqualTo(204);
        assertOutsideIntactAndWorkspaceCleaned();
        assertThat(dataRoot.resolve("tenants/acme/builds/b1")).doesNotExist();
    }

    @Test
    void tenantPurgeDoesNotFollowALinkInTheWorkspace() throws IOException {
        plantLinkInWorkspace();
        Files.createSymbolicLink(dataRoot.resolve("tenants/acme/builds/link-to-outside"), outside.resolve("precious"));
        assertThat(delete("/v1/tenants/acme", ADMIN).status()).isEqualTo(204);
        assertOutsideIntactAndWorkspaceCleaned();
        assertThat(dataRoot.resolve("tenants/acme")).doesNotExist();
    }

    @Test
    void leaseExpiryDoesNotFollowALinkInTheWorkspace() throws IOException {
        token = tenant("acme", "pro");
        build = post("/v1/tenants/acme/builds", token, "{\"build_id\":\"b1\",\"lease_seconds\":1}").json();
        write(outside.resolve("precious/data.txt"), "precious");
        Files.createSymbolicLink(path(build, "workspace").resolve("escape"), outside.resolve("precious"));
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() ->
                assertThat(get(buildPath("acme", "b1"), token).json().get("status").asText()).isEqualTo("failed"));
        assertOutsideIntactAndWorkspaceCleaned();
    }

    @Test
    void tempReplacedByALinkLeavesTheTargetAlone() throws IOException {
        token = tenant("acme", "pro");
        build = build("acme", token, "b1");
        write(outside.resolve("scratch/keep.bin"), "keep");
        Path temp = path(build, "temp");
        Files.delete(temp);
        Files.createSymbolicLink(temp, outside.resolve("scratch"));

        assertProblem(post(artifactPath("acme", "b1", "k.bin") + "/import", token, "{\"from\":\"temp/keep.bin\"}"), 400,
                "link");
        assertThat(complete("acme", token, "b1", "failed").status()).isEqualTo(200);

        assertThat(outside.resolve("scratch/keep.bin")).hasContent("keep");
        assertThat(temp).doesNotExist();
        assertThat(Files.isSymbolicLink(temp)).isFalse();
    }

    @Test
    void importRefusesLinksAndPathsOutsideTheBuild() throws IOException {
        token = tenant("acme", "pro");
        build = build("acme", token, "b1");
        Path temp = path(build, "temp");
        write(outside.resolve("secret.txt"), "secret");
        Files.createSymbolicLink(temp.resolve("link"), outside.resolve("secret.txt"));
        Files.createLink(temp.resolve("hard"), outside.resolve("secret.txt"));
        write(path(build, "rootfs").getParent().resolve("metadata/x"), "meta");

        BiConsumer<String, String> refused = (from, word) -> assertProblem(
                post(artifactPath("acme", "b1", "out.bin") + "/import", token, DaemonFixture.json(Map.of("from", from))),
                400, word);
        refused.accept("temp/link", "symbolic link");
        refused.accept("temp/hard", "hard link");
        refused.accept("../x", "from");
        refused.accept("temp/../../x", "from");
        refused.accept("temp/../metadata/x", "from");
        refused.accept("/etc/passwd", "from");
        refused.accept("rootfs/x", "from");
        refused.accept("temp/", "from");
        assertProblem(post(artifactPath("acme", "b1", "out.bin") + "/import", token, "{}"), 400);

        assertThat(get(artifactPath("acme", "b1", "out.bin"), token).status()).isEqualTo(404);
        assertThat(manifestNames("acme", token, "b1")).isEmpty();
        assertThat(path(build, "rootfs").resolve("out.bin")).doesNotExist();
        assertThat(outside.resolve("secret.txt")).hasContent("secret");
        assertThat(Files.isSymbolicLink(temp.resolve("link"))).isTrue();
    }

    @Test
    void importMovesARegularFileAndHashesIt() {
        token = tenant("acme", "pro");
        build = build("acme", token, "b1");
        byte[] content = bytes(42, 300_000);
        Path file = path(build, "temp").resolve("fs/filesystem.ext4");
        try {
            Files.createDirectories(file.getParent());
            Files.write(file, content);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }

        Response imported = post(artifactPath("acme", "b1", "filesystem.ext4") + "/import", token,
                "{\"from\":\"temp/fs/filesystem.ext4\"}");
        assertThat(imported.status()).as("%s", imported).isEqualTo(201);
        assertThat(imported.json().get("sha256").asText()).isEqualTo(sha256(content));
        assertThat(imported.json().get("size").asLong()).isEqualTo(content.length);
        assertThat(file).doesNotExist();
        assertThat(get(artifactPath("acme", "b1", "filesystem.ext4"), token).body()).isEqualTo(content);
        assertThat(manifestNames("acme", token, "b1")).containsExactly("filesystem.ext4");

        write(path(build, "workspace").resolve("out.txt"), "from workspace");
        assertThat(post(artifactPath("acme", "b1", "out.txt") + "/import", token, "{\"from\":\"workspace/out.txt\"}")
                .status()).isEqualTo(201);
        assertThat(get(artifactPath("acme", "b1", "out.txt"), token).text()).isEqualTo("from workspace");
        assertProblem(post(artifactPath("acme", "b1", "none") + "/import", token, "{\"from\":\"temp/missing\"}"), 404,
                "missing");
    }

    @Test
    void artifactReplacedByALinkIsNotFollowedOnRead() throws IOException {
        token = tenant("acme", "pro");
        build = build("acme", token, "b1");
        write(outside.resolve("secret.txt"), "secret of someone else");
        assertThat(upload("acme", token, "b1", "a.bin", utf8("mine")).status()).isEqualTo(201);
        Path artifact = path(build, "rootfs").resolve("a.bin");
        Files.delete(artifact);
        Files.createSymbolicLink(artifact, outside.resolve("secret.txt"));

        Response read = get(artifactPath("acme", "b1", "a.bin"), token);
        assertThat(read.text()).doesNotContain("secret");
        assertThat(read.status()).isNotEqualTo(200);
        Response gz = post(artifactPath("acme", "b1", "a.bin") + "/gzip", token, null);
        assertThat(gz.status()).isNotEqualTo(201);
        assertThat(path(build, "rootfs").resolve("a.bin.gz")).doesNotExist();
    }

    @Test
    void rootfsReplacedByALinkToAnotherTenantsBuildReadsAndWritesNothingThere() throws IOException {
        String victimToken = tenant("victim", "pro");
        JsonNode victimBuild = build("victim", victimToken, "v1");
        assertThat(upload("victim", victimToken, "v1", "secret.bin", utf8("victim's secret")).status()).isEqualTo(201);
        Path victimRootfs = path(victimBuild, "rootfs");

        token = tenant("evil", "pro");
        build = build("evil", token, "e1");
        assertThat(upload("evil", token, "e1", "secret.bin", utf8("decoy")).status()).isEqualTo(201);
        Path rootfs = path(build, "rootfs");
        for (String name : new String[] {"secret.bin", "manifest.json", "checksums.sha256"}) {
            Files.delete(rootfs.resolve(name));
        }
        Files.delete(rootfs);
        Files.createSymbolicLink(rootfs, victimRootfs);

        Response read = get(artifactPath("evil", "e1", "secret.bin"), token);
        assertThat(read.text()).as("%s", read).doesNotContain("victim");
        Response overwrite = upload("evil", token, "e1", "secret.bin", utf8("overwritten by evil"));
        assertThat(overwrite.status()).as("a link planted by the tenant is its own conflict: %s", overwrite).isEqualTo(409);
        Response delete = delete(artifactPath("evil", "e1", "secret.bin"), token);

        assertThat(victimRootfs.resolve("secret.bin")).hasContent("victim's secret");
        assertThat(get(artifactPath("victim", "v1", "secret.bin"), victimToken).text()).isEqualTo("victim's secret");
        assertThat(Files.readString(victimRootfs.resolve("manifest.json"))).doesNotContain("evil");
        assertThat(delete.status()).as("%s", delete).isEqualTo(409);
        assertThat(delete(buildPath("evil", "e1"), token).status()).isEqualTo(204);
        assertThat(victimRootfs.resolve("secret.bin")).hasContent("victim's secret");
    }

    @Test
    void logsReplacedByALinkToAnotherTenantsLogsExposeNothing() throws IOException {
        String victimToken = tenant("victim", "pro");
        JsonNode victimBuild = build("victim", victimToken, "v1");
        assertThat(put(buildPath("victim", "v1") + "/logs/build.log", victimToken, "victim's log").status()).isEqualTo(201);

        token = tenant("evil", "pro");
        build = build("evil", token, "e1");
        Path logs = path(build, "logs");
        Files.delete(logs);
        Files.createSymbolicLink(logs, path(victimBuild, "logs"));

        Response read = get(buildPath("evil", "e1") + "/logs/build.log", token);
        assertThat(read.text()).as("%s", read).doesNotContain("victim");
        Response list = get(buildPath("evil", "e1") + "/logs", token);
        assertThat(list.text()).as("%s", list).doesNotContain("build.log");
        Response write = put(buildPath("evil", "e1") + "/logs/build.log", token, "evil");
        assertThat(write.status()).as("%s", write).isEqualTo(409);
        assertThat(path(victimBuild, "logs").resolve("build.log")).hasContent("victim's log");

        Files.createSymbolicLink(path(victimBuild, "logs").resolve("planted.log"), outside.resolve("none"));
        write(outside.resolve("secret.txt"), "secret");
        Files.delete(logs);
        Files.createDirectory(logs);
        Files.createSymbolicLink(logs.resolve("leak.log"), outside.resolve("secret.txt"));
        Response leak = get(buildPath("evil", "e1") + "/logs/leak.log", token);
        assertThat(leak.text()).as("%s", leak).doesNotContain("secret");
    }
}
