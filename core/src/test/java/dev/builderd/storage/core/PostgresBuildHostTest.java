package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.core.error.MisdirectedException;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.BuildStatus;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A build's host node, with two nodes on one real PostgreSQL sharing one artifact store: the
 * node that created a build hosts its directories; the other shows the build without them,
 * answers a request for them with the host's URL, and serves artifacts and completion itself.
 */
class PostgresBuildHostTest extends TwoNodeTest {

    private static final Principal ADMIN = new Principal.Admin();
    private static final TenantId ACME = TenantId.of("acme");

    @BeforeEach
    void advertise() {
        a.advertise("http://node-a.example:8082");
        b.advertise("http://node-b.example:8082");
    }

    @Test
    void theCreatingNodeHostsTheBuildAndTheOtherSaysWhereItIs() throws IOException {
        a.tenants().put(ADMIN, ACME, Tier.PRO, null);
        var created = a.builds().create(ADMIN, ACME, Optional.of(BuildId.of("b1")), null);
        BuildRef ref = created.build().ref();
        assertThat(created.build().hostNode()).contains(a.nodeName());
        assertThat(created.paths()).isPresent();
        assertThat(a.builds().paths(ADMIN, ref).workspace()).isDirectory();

        var elsewhere = b.builds().get(ADMIN, ref);
        assertThat(elsewhere.build().hostNode()).contains(a.nodeName());
        assertThat(elsewhere.paths()).isEmpty();
        assertThat(elsewhere.hostUrl()).contains("http://node-a.example:8082");
        assertThatThrownBy(() -> b.builds().paths(ADMIN, ref))
                .isInstanceOfSatisfying(MisdirectedException.class, e -> {
                    assertThat(e.hostNode()).isEqualTo(a.nodeName());
                    assertThat(e.hostUrl()).contains("http://node-a.example:8082");
                })
                .hasMessageContaining("http://node-a.example:8082");
        assertThatThrownBy(() -> b.artifacts().importFile(ADMIN, ref, FileName.of("rootfs.ext4"), "temp/rootfs.ext4"))
                .isInstanceOf(MisdirectedException.class);
    }

    @Test
    void eachNodeMeasuresTheBuildsItHostsAndTheLedgerHoldsTheirSum() throws IOException {
        a.tenants().put(ADMIN, ACME, Tier.PRO, null);
        var onA = a.builds().create(ADMIN, ACME, Optional.of(BuildId.of("on-a")), null);
        var onB = b.builds().create(ADMIN, ACME, Optional.of(BuildId.of("on-b")), null);
        Files.write(onA.paths().orElseThrow().workspace().resolve("a.bin"), new byte[256 * 1024]);
        Files.write(onB.paths().orElseThrow().workspace().resolve("b.bin"), new byte[512 * 1024]);

        a.scanBuildDirectories();
        long aloneA = workspaceBytes();
        b.scanBuildDirectories();
        long both = workspaceBytes();
        a.scanBuildDirectories();

        assertThat(aloneA).isGreaterThanOrEqualTo(256 * 1024);
        assertThat(both).isGreaterThanOrEqualTo(aloneA + 512 * 1024);
        assertThat(workspaceBytes()).as("A's scan keeps B's measurement").isEqualTo(both);

        // B's build ends (completed through A): the next scan anywhere forgets B's measurement.
        a.builds().complete(ADMIN, onB.build().ref(), BuildStatus.FAILED);
        a.scanBuildDirectories();
        assertThat(workspaceBytes()).isEqualTo(aloneA);
    }

    private long workspaceBytes() {
        return a.quotas().usage(ACME).lines().get(dev.builderd.storage.core.quota.Category.WORKSPACE).used();
    }

    @Test
    void artifactsAndCompletionWorkThroughEitherNodeAndTheHostCleansItsDirectories() throws IOException {
        a.tenants().put(ADMIN, ACME, Tier.PRO, null);
        var created = a.builds().create(ADMIN, ACME, Optional.of(BuildId.of("b2")), null);
        BuildRef ref = created.build().ref();
        Path temp = created.paths().orElseThrow().temp();
        Files.writeString(temp.resolve("layer.tar"), "scratch");
        byte[] body = "rootfs bytes".getBytes(StandardCharsets.UTF_8);
        var uploaded = b.artifacts().upload(ADMIN, ref, FileName.of("rootfs.ext4"), new ByteArrayInputStream(body), body.length, null);

        b.builds().complete(ADMIN, ref, BuildStatus.SUCCEEDED);

        assertThat(a.builds().get(ADMIN, ref).build().status()).isEqualTo(BuildStatus.SUCCEEDED);
        assertThat(a.artifacts().list(ADMIN, ref)).singleElement().satisfies(info -> assertThat(info.sha256()).isEqualTo(uploaded.sha256()));
        // The node that completed it had no directories to clean; the host cleans its own at its next scan.
        assertThat(temp).isDirectory();
        a.scanBuildDirectories();
        assertThat(temp).doesNotExist();
        assertThat(created.paths().orElseThrow().workspace()).doesNotExist();
    }
}
