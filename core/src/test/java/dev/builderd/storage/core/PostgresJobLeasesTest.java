package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two nodes ({@link BuilderdStorage} instances with their own data roots) on one real PostgreSQL
 * database: each cluster-wide job is held by exactly one of them, a closed holder hands its jobs
 * over, and a dead holder's lease (never released) is taken once it expires.
 */
class PostgresJobLeasesTest extends TwoNodeTest {

    private static final Duration LEASE = Duration.ofSeconds(1);
    private static final Set<JobLeases.Job> ALL = EnumSet.allOf(JobLeases.Job.class);

    @Override
    CoreConfig configure(CoreConfig defaults) {
        return defaults.withCluster(new CoreConfig.Cluster(LEASE));
    }

    @Test
    void eachJobIsHeldByExactlyOneNode() {
        assertThat(a.nodeName()).isNotEqualTo(b.nodeName());
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> {
            Set<JobLeases.Job> heldByA = a.jobLeases().held();
            Set<JobLeases.Job> heldByB = b.jobLeases().held();
            Set<JobLeases.Job> both = EnumSet.copyOf(ALL);
            both.retainAll(heldByA);
            both.retainAll(heldByB);
            assertThat(both).as("jobs both nodes hold").isEmpty();
            Set<JobLeases.Job> union = EnumSet.noneOf(JobLeases.Job.class);
            union.addAll(heldByA);
            union.addAll(heldByB);
            assertThat(union).isEqualTo(ALL);
        });
        // The first node to start took every free lease; renewals keep them there.
        assertThat(a.jobLeases().held()).isEqualTo(ALL);
        assertThat(metricOf(a, JobLeases.Job.JANITOR)).isEqualTo(1.0);
        assertThat(metricOf(b, JobLeases.Job.JANITOR)).isEqualTo(0.0);
    }

    @Test
    void closingTheHolderHandsItsJobsToTheSurvivor() {
        await().atMost(Duration.ofSeconds(30)).until(() -> a.jobLeases().held().equals(ALL));
        nodes.stopA();
        await().atMost(Duration.ofSeconds(30)).until(() -> b.jobLeases().held().equals(ALL));
        assertThat(metricOf(b, JobLeases.Job.QUOTA_RECONCILIATION)).isEqualTo(1.0);
    }

    @Test
    void aDeadHoldersLeaseIsTakenOnceItExpires() {
        nodes.stopB();
        nodes.stopA();
        // A node that died holding the janitor: its row stays until it expires.
        nodes.metadataA().inTransaction(h -> h.createUpdate("""
                INSERT INTO job_leases (job, holder, acquired_at, expires_at)
                VALUES ('janitor', 'dead-node', (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT,
                        (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT + 3000)
                """).execute());
        try (JobLeases survivor = new JobLeases(nodes.metadataB(), "survivor", LEASE, new PrometheusRegistry())) {
            assertThat(survivor.held()).doesNotContain(JobLeases.Job.JANITOR).contains(JobLeases.Job.CACHE_EXPIRY);
            assertThat(survivor.runIfHeld(JobLeases.Job.JANITOR, () -> { })).isFalse();
            await().atMost(Duration.ofSeconds(30)).until(() -> survivor.holds(JobLeases.Job.JANITOR));
            String holder = nodes.metadataA().read(h -> h.createQuery("SELECT holder FROM job_leases WHERE job = 'janitor'")
                    .mapTo(String.class).one());
            assertThat(holder).isEqualTo("survivor");
        }
        int left = nodes.metadataA().read(h -> h.createQuery("SELECT COUNT(*) FROM job_leases").mapTo(Integer.class).one());
        assertThat(left).as("a closed node releases its leases").isZero();
    }

    @Test
    void onSqliteTheOnlyNodeHoldsEveryJob(@TempDir Path root) {
        try (MetadataStore sqlite = MetadataStore.open(MetadataLocation.sqlite(root.resolve("metadata.db")));
                JobLeases leases = new JobLeases(sqlite, "solo", LEASE, new PrometheusRegistry())) {
            assertThat(leases.held()).isEqualTo(ALL);
        }
    }

    private static double metricOf(BuilderdStorage node, JobLeases.Job job) {
        return node.metrics().scrape().stream().filter(s -> s.getMetadata().getPrometheusName().equals("builderd_job_lease_held"))
                .flatMap(s -> ((io.prometheus.metrics.model.snapshots.GaugeSnapshot) s).getDataPoints().stream())
                .filter(p -> p.getLabels().get("job").equals(job.wireName()))
                .mapToDouble(io.prometheus.metrics.model.snapshots.GaugeSnapshot.GaugeDataPointSnapshot::getValue)
                .findFirst().orElseThrow();
    }
}
