package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The orphan sweep on two nodes on one real PostgreSQL: a build deleted through the node that
 * holds the janitor's lease leaves its directories on its host, the other node, whose own sweep
 * of its directories removes them; a build the metadata knows keeps its directories.
 */
class PostgresOrphanSweepTest extends TwoNodeTest {

    private static final Principal ADMIN = new Principal.Admin();
    private static final TenantId ACME = TenantId.of("acme");

    @Override
    CoreConfig configure(CoreConfig defaults) {
        return defaults.withJanitor(new CoreConfig.Janitor(Duration.ofHours(1), Duration.ZERO));
    }

    @Test
    void eachNodeSweepsTheDirectoriesOfBuildsDeletedThroughAnother() throws IOException {
        a.tenants().put(ADMIN, ACME, Tier.PRO, null);
        BuildRef deleted = b.builds().create(ADMIN, ACME, Optional.of(BuildId.of("deleted")), null).build().ref();
        BuildRef kept = b.builds().create(ADMIN, ACME, Optional.of(BuildId.of("kept")), null).build().ref();
        Path workspace = b.builds().get(ADMIN, deleted).paths().orElseThrow().workspace();
        Files.writeString(workspace.resolve("main.c"), "int main() {}");
        Path keptWorkspace = b.builds().get(ADMIN, kept).paths().orElseThrow().workspace();
        assertThat(a.jobLeases().holds(JobLeases.Job.JANITOR)).as("the first node to start holds the janitor's lease").isTrue();
        assertThat(b.jobLeases().holds(JobLeases.Job.JANITOR)).isFalse();

        a.builds().delete(ADMIN, deleted);
        assertThat(workspace).as("on its host, which the deleting node cannot reach").exists();

        b.janitorRound();

        assertThat(workspace.getParent()).doesNotExist();
        assertThat(keptWorkspace).exists();
    }
}
