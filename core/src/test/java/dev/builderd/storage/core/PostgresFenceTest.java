package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.builderd.storage.core.error.UnavailableException;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import dev.builderd.storage.core.quota.Quotas;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * A restore's fence across two nodes on one real PostgreSQL: uploads through the other node are
 * refused at once (the reservation checks the fence in its transaction), other writes within
 * {@link Quotas#FENCE_BOUND}; a second restore of the tenant is refused on any node; a fence left
 * by a node that died is removed when it starts again.
 */
class PostgresFenceTest extends TwoNodeTest {

    private static final Principal ADMIN = new Principal.Admin();
    private static final TenantId ACME = TenantId.of("acme");
    private static final byte[] BODY = "artifact".getBytes(java.nio.charset.StandardCharsets.UTF_8);

    @Test
    void aFenceOnOneNodeStopsWritesThroughTheOther() throws IOException {
        a.tenants().put(ADMIN, ACME, Tier.PRO, null);
        BuildRef ref = b.builds().create(ADMIN, ACME, Optional.of(BuildId.of("b1")), null).build().ref();

        assertThat(a.quotas().fence(ACME, "a test restore")).isTrue();

        // An upload reserves quota, and the reservation sees the fence exactly, with no delay.
        assertThatThrownBy(() -> upload(b, ref, "first.bin"))
                .isInstanceOf(UnavailableException.class).hasMessageContaining("a test restore").hasMessageContaining(a.nodeName());
        // Writes that reserve nothing see it within the bound.
        await().atMost(Quotas.FENCE_BOUND.plusSeconds(10)).untilAsserted(() -> assertThatThrownBy(() -> b.quotas().requireWritable(ACME))
                .isInstanceOf(UnavailableException.class));
        assertThatThrownBy(() -> b.builds().create(ADMIN, ACME, Optional.empty(), null)).isInstanceOf(UnavailableException.class);
        assertThat(b.quotas().fence(ACME, "a second restore")).as("a second restore of the tenant, on the other node").isFalse();
        // Reads go on.
        assertThat(b.builds().list(ADMIN, ACME)).hasSize(1);

        a.quotas().unfence(ACME);

        assertThat(upload(b, ref, "second.bin").size()).isEqualTo(BODY.length);
        await().atMost(Quotas.FENCE_BOUND.plusSeconds(10)).ignoreExceptionsInstanceOf(UnavailableException.class)
                .untilAsserted(() -> b.quotas().requireWritable(ACME));
    }

    @Test
    void aFenceLeftByADeadNodeIsRemovedWhenItStartsAgain() throws IOException {
        a.tenants().put(ADMIN, ACME, Tier.PRO, null);
        BuildRef ref = b.builds().create(ADMIN, ACME, Optional.of(BuildId.of("b1")), null).build().ref();
        assertThat(a.quotas().fence(ACME, "a restore that dies")).isTrue();
        // The node stops without ending its restore (as if killed): the fence stays in the database.
        nodes.stopA();
        assertThatThrownBy(() -> upload(b, ref, "during.bin")).isInstanceOf(UnavailableException.class);

        a = nodes.restartA();

        assertThat(upload(b, ref, "after.bin").size()).isEqualTo(BODY.length);
    }

    private static dev.builderd.storage.core.model.ArtifactInfo upload(BuilderdStorage node, BuildRef ref, String name) {
        return node.artifacts().upload(ADMIN, ref, FileName.of(name), new ByteArrayInputStream(BODY), BODY.length, null);
    }
}
