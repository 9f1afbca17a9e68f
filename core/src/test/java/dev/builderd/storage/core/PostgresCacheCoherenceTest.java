package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.core.CacheService.CacheType;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Cache tiers of two nodes over one shared remote, on one real PostgreSQL: an entry replaced or
 * deleted through one node stops being served from the other node's memory and disk tiers within
 * {@link CacheCoherence#BOUND}, also when the other node was down at the time.
 */
class PostgresCacheCoherenceTest extends TwoNodeTest {

    private static final Principal ADMIN = new Principal.Admin();
    private static final TenantId ACME = TenantId.of("acme");
    private static final String KEY = "github.com/acme/app.git";

    @Test
    void anEntryReplacedOrDeletedOnOneNodeIsNotServedStaleByTheOther() throws IOException {
        a.tenants().put(ADMIN, ACME, Tier.PRO, null);
        put(a, "first");
        // Read twice on B: the first read fills its tiers, the second is served by them.
        assertThat(read(b)).isEqualTo("first");
        assertThat(read(b)).isEqualTo("first");

        put(a, "second, longer");

        await().atMost(CacheCoherence.BOUND.plusSeconds(10)).untilAsserted(() -> assertThat(read(b)).isEqualTo("second, longer"));

        a.caches().delete(ADMIN, ACME, CacheType.GIT_REPOS, KEY);

        await().atMost(CacheCoherence.BOUND.plusSeconds(10))
                .untilAsserted(() -> assertThatThrownBy(() -> read(b)).isInstanceOf(NotFoundException.class));
    }

    @Test
    void aNodeThatWasDownDropsWhatChangedMeanwhileFromItsDiskTier() throws IOException {
        a.tenants().put(ADMIN, ACME, Tier.PRO, null);
        put(a, "before");
        assertThat(read(b)).isEqualTo("before");
        assertThat(diskTierOfB()).as("the read filled B's disk tier").contains("before");
        // B's poll records how far it applied the changes; only then is its absence a gap to replay.
        await().atMost(CacheCoherence.BOUND.plusSeconds(10)).until(() -> nodes.metadataB().read(h -> h.createQuery(
                "SELECT COUNT(*) FROM cache_change_cursors").mapTo(Integer.class).one()) == 2);
        nodes.stopB();

        put(a, "changed while b was down");
        b = nodes.restartB();

        assertThat(diskTierOfB()).as("B replayed the change it missed before serving").doesNotContain("before");
        assertThat(read(b)).isEqualTo("changed while b was down");
    }

    /** A node records how far it applied the changes once a minute, not at each of its polls. */
    @Test
    void aNodeRecordsItsPlaceOnceAMinuteNotAtEveryPoll() {
        // Both nodes record their place at their first poll.
        await().atMost(CacheCoherence.BOUND.plusSeconds(10)).until(() -> cursors().size() == 2);
        java.util.Map<String, Long> first = cursors();
        double polledA = polls(a);
        double polledB = polls(b);

        await().atMost(Duration.ofSeconds(30)).until(() -> polls(a) >= polledA + 3 && polls(b) >= polledB + 3);

        assertThat(cursors()).as("three more polls of each node, within a minute of their first record").isEqualTo(first);
    }

    private java.util.Map<String, Long> cursors() {
        return nodes.metadataB().read(h -> h.createQuery("SELECT node, applied_until FROM cache_change_cursors")
                .map((rs, ctx) -> java.util.Map.entry(rs.getString(1), rs.getLong(2))).list().stream()
                .collect(java.util.stream.Collectors.toMap(java.util.Map.Entry::getKey, java.util.Map.Entry::getValue)));
    }

    private static double polls(BuilderdStorage node) {
        return node.metrics().scrape().stream().filter(m -> m.getMetadata().getName().equals("builderd_cache_coherence_polls"))
                .findFirst().map(m -> ((io.prometheus.metrics.model.snapshots.CounterSnapshot) m).getDataPoints().getFirst().getValue())
                .orElse(0.0);
    }

    /** The contents of the files in B's disk tier. */
    private List<String> diskTierOfB() throws IOException {
        try (Stream<Path> files = Files.walk(rootB.resolve("cache-tier"))) {
            return files.filter(Files::isRegularFile).map(file -> {
                try {
                    return Files.readString(file);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }).toList();
        }
    }

    private static void put(BuilderdStorage node, String content) {
        byte[] bytes = content.getBytes(StandardCharsets.UTF_8);
        node.caches().put(ADMIN, ACME, CacheType.GIT_REPOS, KEY, new ByteArrayInputStream(bytes), bytes.length);
    }

    private static String read(BuilderdStorage node) throws IOException {
        try (InputStream in = node.caches().open(ADMIN, ACME, CacheType.GIT_REPOS, KEY, ByteRange.ALL).content()) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
