package dev.builderd.storage.core.quota;

import static org.assertj.core.api.Assertions.assertThat;

import dev.builderd.storage.core.error.QuotaExceededException;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.QuotaRows;
import dev.builderd.storage.core.metadata.TenantRows;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.RepetitionInfo;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Seeded random interleavings of reserve, grow, commit, release, delete and crash against the
 * ledger, checked after every step against a model: {@code used + reserved} never passes a hard
 * limit, and after the crashed writers' reservations are swept and the ledger is reconciled with
 * the true usage, it equals the truth. Each run prints its seed; set {@code -Dquota.seed=N} to
 * replay one. Runs on SQLite here and on PostgreSQL in {@link PostgresQuotaLedgerPropertyTest}.
 */
class QuotaLedgerPropertyTest {

    private static final TenantId ACME = TenantId.of("acme");
    private static final long TOTAL = 10_000;
    private static final long ARTIFACTS = 6_000;
    private static final long CACHE = 3_000;

    @TempDir
    Path dir;
    MetadataStore metadata;
    Quotas quotas;

    MetadataLocation location() {
        return MetadataLocation.sqlite(dir.resolve("quota.db"));
    }

    @BeforeEach
    void open() {
        metadata = MetadataStore.open(location());
        metadata.inTransaction(h -> TenantRows.upsert(h, ACME, Tier.PRO, false, java.time.Instant.now()));
        quotas = newQuotas();
        quotas.setOverrides(ACME, new Limits.Overrides(OptionalLong.of(TOTAL), OptionalLong.of(ARTIFACTS), OptionalLong.of(CACHE),
                Optional.empty(), Optional.empty(), Optional.empty()));
    }

    private Quotas newQuotas() {
        return new Quotas(metadata, Quotas.Config.DEFAULTS, Clock.systemUTC(), "test-node", Quotas.CacheCleaner.NONE,
                (t, from, to) -> { });
    }

    @AfterEach
    void close() {
        metadata.close();
    }

    private Map<Category, QuotaRows.Line> ledger() {
        return metadata.read(h -> QuotaRows.ledger(h, ACME));
    }

    private static long seed(RepetitionInfo repetition) {
        String fixed = System.getProperty("quota.seed");
        return fixed != null ? Long.parseLong(fixed) : System.nanoTime() ^ repetition.getCurrentRepetition() * 0x9E3779B97F4A7C15L;
    }

    /** A writer in flight, as the model sees it. */
    private record Open(Reservation reservation, Category category, long[] held) {
    }

    @RepeatedTest(12)
    void anyInterleavingKeepsUsedPlusReservedWithinTheLimitsAndConvergesAfterReconciliation(RepetitionInfo repetition) {
        long seed = seed(repetition);
        System.out.println("quota ledger property test seed: " + seed + " (replay with -Dquota.seed=" + seed + ")");
        Random random = new Random(seed);
        Map<Category, Long> truth = new EnumMap<>(Category.class);
        for (Category category : Category.values()) {
            truth.put(category, 0L);
        }
        List<Open> open = new ArrayList<>();
        Category[] counted = {Category.ARTIFACTS, Category.CACHE, Category.LOGS};
        for (int step = 0; step < 300; step++) {
            int op = random.nextInt(100);
            if (op < 35 || open.isEmpty()) {
                Category category = counted[random.nextInt(counted.length)];
                long bytes = random.nextInt(2_500);
                try {
                    open.add(new Open(quotas.reserve(ACME, category, bytes), category, new long[] {bytes}));
                } catch (QuotaExceededException refused) {
                    assertThat(refused.figures()).as("seed %d: the refusal says why", seed).isPresent();
                }
            } else if (op < 45) {
                Open writer = open.get(random.nextInt(open.size()));
                long more = random.nextInt(1_500);
                try {
                    quotas.extend(writer.reservation(), more);
                    writer.held()[0] += more;
                } catch (QuotaExceededException refused) {
                    // the writer would now fail its upload and release
                }
            } else if (op < 70) {
                Open writer = open.remove(random.nextInt(open.size()));
                long actual = writer.held()[0] == 0 ? 0 : random.nextLong(writer.held()[0] + 1);
                long replaced = random.nextBoolean() ? 0 : random.nextLong(truth.get(writer.category()) + 1);
                writer.reservation().commit(actual, replaced);
                truth.merge(writer.category(), actual - replaced, Long::sum);
            } else if (op < 85) {
                open.remove(random.nextInt(open.size())).reservation().close();
            } else if (op < 93) {
                Category category = counted[random.nextInt(counted.length)];
                long deleted = random.nextLong(truth.get(category) + 1);
                metadata.inTransaction(h -> {
                    quotas.adjust(h, ACME, category, -deleted);
                    return null;
                });
                truth.merge(category, -deleted, Long::sum);
            } else {
                // A crash: every writer in flight vanishes without releasing; the next start sweeps.
                open.clear();
                quotas = newQuotas();
                quotas.sweep(true);
                assertThat(ledger().values()).as("seed %d: nothing reserved after the sweep", seed)
                        .allMatch(line -> line.reserved() == 0);
            }
            Map<Category, QuotaRows.Line> ledger = ledger();
            long total = ledger.values().stream().mapToLong(QuotaRows.Line::total).sum();
            assertThat(total).as("seed %d step %d: used + reserved within the total limit", seed, step).isLessThanOrEqualTo(TOTAL);
            assertThat(ledger.get(Category.ARTIFACTS).total()).as("seed %d step %d: artifacts", seed, step).isLessThanOrEqualTo(ARTIFACTS);
            assertThat(ledger.get(Category.CACHE).total()).as("seed %d step %d: cache", seed, step).isLessThanOrEqualTo(CACHE);
            for (Category category : counted) {
                assertThat(ledger.get(category).used()).as("seed %d step %d: %s used", seed, step, category).isEqualTo(truth.get(category));
                long held = open.stream().filter(o -> o.category() == category).mapToLong(o -> o.held()[0]).sum();
                assertThat(ledger.get(category).reserved()).as("seed %d step %d: %s reserved", seed, step, category).isEqualTo(held);
            }
        }
        // Drift (a crash between a write and its commit) is healed by reconciliation with the truth.
        open.clear();
        quotas = newQuotas();
        quotas.sweep(true);
        metadata.inTransaction(h -> {
            quotas.measured(h, ACME, Category.ARTIFACTS, truth.get(Category.ARTIFACTS) + 123);
            return null;
        });
        long drift = metadata.inTransaction(h -> quotas.measured(h, ACME, Category.ARTIFACTS, truth.get(Category.ARTIFACTS)));
        assertThat(drift).isEqualTo(-123);
        assertThat(ledger().get(Category.ARTIFACTS)).isEqualTo(new QuotaRows.Line(truth.get(Category.ARTIFACTS), 0));
    }

    @Test
    void concurrentWritersNeverPassTheLimitByASingleByte() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(16);
        AtomicLong committed = new AtomicLong();
        try {
            List<Future<?>> writers = new ArrayList<>();
            for (int i = 0; i < 64; i++) {
                long seed = i;
                writers.add(pool.submit(() -> {
                    Random random = new Random(seed);
                    for (int round = 0; round < 10; round++) {
                        long bytes = 1 + random.nextInt(900);
                        try (Reservation reservation = quotas.reserve(ACME, Category.ARTIFACTS, bytes)) {
                            long total = ledger().values().stream().mapToLong(QuotaRows.Line::total).sum();
                            assertThat(total).isLessThanOrEqualTo(TOTAL);
                            if (random.nextBoolean()) {
                                reservation.commit(bytes, 0);
                                committed.addAndGet(bytes);
                            }
                        } catch (QuotaExceededException refused) {
                            // expected near the limit
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> writer : writers) {
                writer.get(120, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        QuotaRows.Line artifacts = ledger().get(Category.ARTIFACTS);
        assertThat(artifacts.used()).isEqualTo(committed.get()).isLessThanOrEqualTo(ARTIFACTS);
        assertThat(artifacts.reserved()).isZero();
    }

    @Test
    void aLimitLoweredBelowUsageKeepsTheDataRefusesNewWritesAndSaysSo() {
        try (Reservation reservation = quotas.reserve(ACME, Category.ARTIFACTS, 5_000)) {
            reservation.commit(5_000, 0);
        }

        Usage usage = quotas.setOverrides(ACME, new Limits.Overrides(OptionalLong.of(4_000), OptionalLong.empty(),
                OptionalLong.empty(), Optional.empty(), Optional.empty(), Optional.empty()));

        assertThat(usage.state()).isEqualTo("hard");
        assertThat(usage.usedBytes()).isEqualTo(5_000);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> quotas.reserve(ACME, Category.LOGS, 1))
                .isInstanceOf(QuotaExceededException.class).hasMessageContaining("total quota").hasMessageContaining("4000");
        assertThat(quotas.warning(ACME)).get().asString().contains("total 125.0% of 4000 bytes");
    }
}
