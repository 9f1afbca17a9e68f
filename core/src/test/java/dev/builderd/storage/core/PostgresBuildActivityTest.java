package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.builderd.storage.core.error.ConflictException;
import dev.builderd.storage.core.model.ArtifactInfo;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.BuildStatus;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;

/**
 * Uploads and the closing of their build across two nodes on one real PostgreSQL: a build is not
 * completed or deleted through one node while an upload to it runs on the other, and a node's
 * uploads that never ended (it died) stop counting when it starts again.
 */
class PostgresBuildActivityTest extends TwoNodeTest {

    private static final Principal ADMIN = new Principal.Admin();
    private static final TenantId ACME = TenantId.of("acme");

    @Test
    void aBuildIsNotClosedThroughOneNodeWhileAnUploadToItRunsOnTheOther() throws Exception {
        BuildRef ref = build();
        CountDownLatch release = new CountDownLatch(1);
        CompletableFuture<ArtifactInfo> upload = CompletableFuture.supplyAsync(() -> a.artifacts().upload(ADMIN, ref,
                FileName.of("rootfs.ext4"), held(release), 8, null));
        await().atMost(Duration.ofSeconds(30)).until(() -> rows() == 1);

        assertThatThrownBy(() -> b.builds().complete(ADMIN, ref, BuildStatus.SUCCEEDED))
                .isInstanceOf(ConflictException.class).hasMessageContaining("upload(s) to it are in progress");
        assertThatThrownBy(() -> b.builds().delete(ADMIN, ref)).isInstanceOf(ConflictException.class);
        assertThat(b.builds().reapExpiredLeases()).isZero();

        release.countDown();
        assertThat(upload.get().size()).isEqualTo(8);
        assertThat(rows()).isZero();
        b.builds().complete(ADMIN, ref, BuildStatus.SUCCEEDED);
        assertThatThrownBy(() -> a.artifacts().upload(ADMIN, ref, FileName.of("late.bin"), new ByteArrayInputStream(new byte[1]), 1, null))
                .isInstanceOf(ConflictException.class);
    }

    @Test
    void theUploadsOfANodeThatDiedStopCountingWhenItStartsAgain() throws IOException {
        BuildRef ref = build();
        // As left by a node killed mid-upload: its row, renewed for the last time a moment ago.
        nodes.metadataA().inTransaction(h -> h.createUpdate("""
                INSERT INTO build_activity (activity_id, tenant_id, build_id, kind, node, expires_at)
                VALUES ('killed', 'acme', 'b1', 'upload', :node, :expires)""")
                .bind("node", a.nodeName()).bind("expires", System.currentTimeMillis() + 60_000).execute());
        assertThatThrownBy(() -> b.builds().complete(ADMIN, ref, BuildStatus.SUCCEEDED)).isInstanceOf(ConflictException.class);

        a = nodes.restartA();

        assertThat(b.builds().complete(ADMIN, ref, BuildStatus.SUCCEEDED).build().status()).isEqualTo(BuildStatus.SUCCEEDED);
    }

    private BuildRef build() {
        a.tenants().put(ADMIN, ACME, Tier.PRO, null);
        return b.builds().create(ADMIN, ACME, Optional.of(BuildId.of("b1")), null).build().ref();
    }

    private int rows() {
        return nodes.metadataB().read(h -> h.createQuery("SELECT COUNT(*) FROM build_activity").mapTo(Integer.class).one());
    }

    /** Four bytes, then a wait for {@code release}, then four more. */
    private static InputStream held(CountDownLatch release) {
        InputStream rest = new InputStream() {
            private final InputStream bytes = new ByteArrayInputStream(new byte[] {5, 6, 7, 8});

            @Override
            public int read() throws IOException {
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException();
                }
                return bytes.read();
            }
        };
        return new SequenceInputStream(new ByteArrayInputStream(new byte[] {1, 2, 3, 4}), rest);
    }
}
