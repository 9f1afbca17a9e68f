package dev.builderd.storage.bench;

import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.core.BuilderdStorage;
import dev.builderd.storage.core.CoreConfig;
import dev.builderd.storage.core.Layout;
import dev.builderd.storage.core.Stores;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import dev.builderd.storage.core.quota.Category;
import dev.builderd.storage.core.quota.Quotas;
import dev.builderd.storage.core.quota.Reservation;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.statement.PreparedBatch;

/**
 * The quota ledger's costs, in one run (driven by {@code bench/run-quota.sh}, which documents the
 * knobs and writes the table into {@code docs/performance.md}):
 *
 * <ol>
 *   <li>{@code Quotas.usage(tenant)} for tenants holding 0, 100,000 and 1,000,000 artifacts (rows
 *       inserted in bulk, the ledger set as reconciliation sets it), against what a ledger-less
 *       design runs instead: {@code SELECT SUM(size) FROM artifacts WHERE tenant_id = ?}, and
 *       {@code du -sb} over a tree of 100,000 small files;
 *   <li>a reservation ({@code reserve} + {@code commit}, two write transactions) against a 1 MiB
 *       artifact upload through {@code ArtifactService.upload}, on SQLite; the same reservation on
 *       PostgreSQL too when bench/run-quota.sh started a server (with an upload there too).
 * </ol>
 *
 * <p>Arguments: a work directory on a real disk (SQLite files, blobs, the du tree; the caller
 * deletes it) and the results directory, which gets {@code summary.tsv} (one row per figure),
 * {@code samples.tsv} (every timed call) and {@code facts.tsv} (set-up times and checks).
 */
public final class QuotaBench {

    private static final Principal ADMIN = new Principal.Admin();
    private static final String ADMIN_TOKEN = "quota-bench-admin-token";
    private static final int ARTIFACTS_PER_BUILD = 1000;
    private static final int INSERT_BATCH = 10_000;
    private static final int UPLOAD_BYTES = 1 << 20;

    /** The knobs, from the environment (bench/run-quota.sh lists them with their defaults). */
    record Knobs(List<Integer> fileCounts, int calls, int warmup, int uploads, int uploadWarmup, Duration sumBudget,
            int duDirs, int duFilesPerDir, int duRuns) {

        static Knobs fromEnvironment() {
            List<Integer> counts = Arrays.stream(env("BENCH_QUOTA_FILES", "0 100000 1000000").trim().split("[\\s,]+"))
                    .map(Integer::parseInt).toList();
            return new Knobs(counts, intEnv("BENCH_QUOTA_CALLS", 2000), intEnv("BENCH_QUOTA_WARMUP", 2000),
                    intEnv("BENCH_QUOTA_UPLOADS", 200), intEnv("BENCH_QUOTA_UPLOAD_WARMUP", 20),
                    Duration.ofSeconds(intEnv("BENCH_QUOTA_SUM_SECONDS", 20)),
                    intEnv("BENCH_DU_DIRS", 1000), intEnv("BENCH_DU_FILES_PER_DIR", 100), intEnv("BENCH_DU_RUNS", 20));
        }

        private static String env(String name, String otherwise) {
            String value = System.getenv(name);
            return value == null || value.isBlank() ? otherwise : value;
        }

        private static int intEnv(String name, int otherwise) {
            return Integer.parseInt(env(name, Integer.toString(otherwise)));
        }
    }

    private final Knobs knobs;
    private final Path work;
    private final PrintWriter summary;
    private final PrintWriter samples;
    private final PrintWriter facts;

    private QuotaBench(Knobs knobs, Path work, Path results) throws IOException {
        this.knobs = knobs;
        this.work = work;
        this.summary = writer(results.resolve("summary.tsv"));
        this.samples = writer(results.resolve("samples.tsv"));
        this.facts = writer(results.resolve("facts.tsv"));
        summary.println("measure\tcase\tcalls\tmedian_ns\tp99_ns\tmin_ns\tmax_ns");
        samples.println("measure\tcase\tcall\tns");
        facts.println("fact\tvalue");
    }

    private static PrintWriter writer(Path file) throws IOException {
        return new PrintWriter(Files.newBufferedWriter(file, StandardCharsets.UTF_8), true);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: QuotaBench WORK_DIR RESULTS_DIR   (run through bench/run-quota.sh)");
            System.exit(2);
        }
        QuotaBench bench = new QuotaBench(Knobs.fromEnvironment(), Path.of(args[0]), Path.of(args[1]));
        try {
            bench.run();
        } finally {
            bench.summary.close();
            bench.samples.close();
            bench.facts.close();
        }
        // The storages' background threads are daemons; bench/run-quota.sh stops PostgreSQL.
        System.exit(0);
    }

    private void run() throws Exception {
        fact("warmup", Integer.toString(knobs.warmup()));
        fact("upload_warmup", Integer.toString(knobs.uploadWarmup()));
        fact("sum_seconds", Long.toString(knobs.sumBudget().toSeconds()));
        Path root = work.resolve("sqlite");
        try (MetadataStore metadata = MetadataStore.open(MetadataLocation.sqlite(root.resolve("metadata/builderd.db")));
                BuilderdStorage storage = open(root, metadata)) {
            Map<Integer, TenantId> tenants = new LinkedHashMap<>();
            for (int files : knobs.fileCounts()) {
                tenants.put(files, populate(storage, metadata, files));
            }
            fact("sqlite_version", metadata.read(h -> h.createQuery("SELECT sqlite_version()").mapTo(String.class).one()));
            Path db = root.resolve("metadata/builderd.db");
            Path wal = root.resolve("metadata/builderd.db-wal");
            fact("sqlite_file_bytes", Long.toString(Files.size(db) + (Files.exists(wal) ? Files.size(wal) : 0)));
            usageByFileCount(storage, tenants);
            sumByFileCount(metadata, tenants);
            reservations("sqlite", "reservations", storage);
            uploads("sqlite", storage);
        }
        duTree();
        postgres();
    }

    /** An embedded storage over {@code root}; reconciliation only at start-up, so it never runs during a measurement. */
    private static BuilderdStorage open(Path root, MetadataStore metadata) throws IOException {
        CoreConfig defaults = CoreConfig.defaults(Layout.under(root));
        Quotas.Config q = defaults.quotas();
        CoreConfig config = defaults.withQuotas(new Quotas.Config(q.softPercent(), q.action(), q.throttleWait(),
                q.reservationLease(), q.checkInterval(), Duration.ofDays(1)));
        return new BuilderdStorage(config, metadata, Stores.single(new FileBlobStore(root)), ADMIN_TOKEN, Clock.systemUTC());
    }

    // ------------------------------------------------------------------------------------------
    // 1. usage against file count
    // ------------------------------------------------------------------------------------------

    /**
     * A dedicated tenant with {@code files} artifact rows (in completed builds of 1,000 each) and
     * a ledger that agrees: the rows and the ledger's artifact line are written in one
     * transaction, the line set with {@link Quotas#measured} as reconciliation sets it.
     */
    private TenantId populate(BuilderdStorage storage, MetadataStore metadata, int files) {
        TenantId tenant = TenantId.of("files-" + files);
        storage.tenants().put(ADMIN, tenant, Tier.DEDICATED, null);
        long started = System.nanoTime();
        long now = System.currentTimeMillis();
        long total = metadata.inTransaction(h -> {
            int builds = (files + ARTIFACTS_PER_BUILD - 1) / ARTIFACTS_PER_BUILD;
            PreparedBatch buildRows = h.prepareBatch("INSERT INTO builds (tenant_id, build_id, status, created_at, completed_at,"
                    + " lease_expires_at) VALUES (:t, :b, 'SUCCEEDED', :now, :now, :now)");
            for (int b = 0; b < builds; b++) {
                buildRows.bind("t", tenant.value()).bind("b", buildId(b)).bind("now", now).add();
            }
            if (builds > 0) {
                buildRows.execute();
            }
            long bytes = 0;
            PreparedBatch rows = null;
            for (int i = 0; i < files; i++) {
                if (rows == null) {
                    rows = h.prepareBatch("INSERT INTO artifacts (tenant_id, build_id, name, size, sha256, created_at)"
                            + " VALUES (:t, :b, :n, :size, :sha, :now)");
                }
                long size = sizeOf(i);
                bytes += size;
                rows.bind("t", tenant.value()).bind("b", buildId(i / ARTIFACTS_PER_BUILD))
                        .bind("n", "file-" + (i % ARTIFACTS_PER_BUILD) + ".bin").bind("size", size).bind("sha", fakeSha(i))
                        .bind("now", now).add();
                if (rows.size() == INSERT_BATCH) {
                    rows.execute();
                    rows = null;
                }
            }
            if (rows != null) {
                rows.execute();
            }
            storage.quotas().measured(h, tenant, Category.ARTIFACTS, bytes);
            return bytes;
        });
        double seconds = (System.nanoTime() - started) / 1e9;
        long ledger = storage.quotas().usage(tenant).lines().get(Category.ARTIFACTS).used();
        long summed = sumOfSizes(metadata, tenant);
        if (ledger != total || summed != total) {
            throw new IllegalStateException("tenant " + tenant + ": the ledger says " + ledger + " bytes, SUM(size) " + summed
                    + ", inserted " + total);
        }
        fact("insert_seconds/" + files, String.format(Locale.ROOT, "%.1f", seconds));
        fact("artifact_bytes/" + files, Long.toString(total));
        progress("tenant %s: %,d artifact rows (%,d bytes) inserted in %.1f s; the ledger agrees with SUM(size)", tenant, files,
                total, seconds);
        return tenant;
    }

    private static String buildId(int build) {
        return String.format(Locale.ROOT, "b%05d", build);
    }

    /** 1 byte to 128 KiB, spread evenly (mean 64 KiB: 1M artifacts are about 64 GiB, within the dedicated tier). */
    private static long sizeOf(int i) {
        return 1 + (i * 2_654_435_761L & 0xFFFF_FFFFL) % (128 << 10);
    }

    private static String fakeSha(int i) {
        String hex = Integer.toHexString(i);
        return "0".repeat(64 - hex.length()) + hex;
    }

    private static long sumOfSizes(MetadataStore metadata, TenantId tenant) {
        Long sum = metadata.read(h -> h.createQuery("SELECT SUM(size) FROM artifacts WHERE tenant_id = :t")
                .bind("t", tenant.value()).mapTo(Long.class).one());
        return sum == null ? 0 : sum;
    }

    /** {@code usage(tenant)}, the tenants in turn in every round, so that each sees the same conditions. */
    private void usageByFileCount(BuilderdStorage storage, Map<Integer, TenantId> tenants) {
        Quotas quotas = storage.quotas();
        for (int round = 0; round < knobs.warmup(); round++) {
            tenants.values().forEach(quotas::usage);
        }
        Map<Integer, long[]> times = new LinkedHashMap<>();
        tenants.keySet().forEach(files -> times.put(files, new long[knobs.calls()]));
        for (int round = 0; round < knobs.calls(); round++) {
            for (var tenant : tenants.entrySet()) {
                long t0 = System.nanoTime();
                quotas.usage(tenant.getValue());
                times.get(tenant.getKey())[round] = System.nanoTime() - t0;
            }
        }
        times.forEach((files, ns) -> record("usage_ledger", Integer.toString(files), ns));
    }

    /** What a ledger-less design asks the database instead; as many calls as fit the time budget (at least 10). */
    private void sumByFileCount(MetadataStore metadata, Map<Integer, TenantId> tenants) {
        for (var tenant : tenants.entrySet()) {
            LongSupplier call = () -> sumOfSizes(metadata, tenant.getValue());
            for (int i = 0; i < Math.min(knobs.warmup(), 3); i++) {
                call.getAsLong();
            }
            List<Long> ns = new ArrayList<>();
            long deadline = System.nanoTime() + knobs.sumBudget().toNanos();
            while (ns.size() < knobs.calls() && (ns.size() < 10 || System.nanoTime() < deadline)) {
                long t0 = System.nanoTime();
                call.getAsLong();
                ns.add(System.nanoTime() - t0);
            }
            record("usage_sum", Integer.toString(tenant.getKey()), ns.stream().mapToLong(Long::longValue).toArray());
        }
    }

    // ------------------------------------------------------------------------------------------
    // 2. reservation overhead against an upload
    // ------------------------------------------------------------------------------------------

    /** {@code reserve(tenant, ARTIFACTS, 1 MiB)} then {@code commit(1 MiB, 0)}: each timed, and their sum. */
    private void reservations(String database, String tenantName, BuilderdStorage storage) {
        TenantId tenant = TenantId.of(tenantName);
        storage.tenants().put(ADMIN, tenant, Tier.DEDICATED, null);
        Quotas quotas = storage.quotas();
        int warmup = Math.min(knobs.warmup(), 200);
        fact("reserve_warmup/" + database, Integer.toString(warmup));
        long[] reserve = new long[knobs.calls()];
        long[] commit = new long[knobs.calls()];
        long[] both = new long[knobs.calls()];
        for (int i = -warmup; i < knobs.calls(); i++) {
            long t0 = System.nanoTime();
            Reservation reservation = quotas.reserve(tenant, Category.ARTIFACTS, UPLOAD_BYTES);
            long t1 = System.nanoTime();
            reservation.commit(UPLOAD_BYTES, 0);
            long t2 = System.nanoTime();
            if (i >= 0) {
                reserve[i] = t1 - t0;
                commit[i] = t2 - t1;
                both[i] = t2 - t0;
            }
        }
        long expected = (long) (warmup + knobs.calls()) * UPLOAD_BYTES;
        long used = quotas.usage(tenant).lines().get(Category.ARTIFACTS).used();
        if (used != expected) {
            throw new IllegalStateException("the ledger says " + used + " bytes after the reservations, expected " + expected);
        }
        record("reserve_commit", database, both);
        record("reserve", database, reserve);
        record("commit", database, commit);
    }

    /** 1 MiB uploads to distinct names of one active build of a plaintext (pro) tenant. */
    private void uploads(String database, BuilderdStorage storage) {
        TenantId tenant = TenantId.of("uploads");
        storage.tenants().put(ADMIN, tenant, Tier.PRO, null);
        BuildRef build = new BuildRef(tenant, BuildId.of("upload-bench"));
        storage.builds().create(ADMIN, tenant, Optional.of(build.build()), Duration.ofHours(1));
        byte[] body = new byte[UPLOAD_BYTES];
        new Random(5).nextBytes(body);
        long[] ns = new long[knobs.uploads()];
        for (int i = -knobs.uploadWarmup(); i < knobs.uploads(); i++) {
            FileName name = FileName.of((i < 0 ? "warm-" + -i : "upload-" + i) + ".bin");
            long t0 = System.nanoTime();
            storage.artifacts().upload(ADMIN, build, name, new ByteArrayInputStream(body), body.length, null);
            if (i >= 0) {
                ns[i] = System.nanoTime() - t0;
            }
        }
        record("upload_1mib", database, ns);
    }

    // ------------------------------------------------------------------------------------------
    // du -sb
    // ------------------------------------------------------------------------------------------

    /** {@code du -sb} over a tree of small files, warm (written, synced, walked once before the timed runs). */
    private void duTree() throws IOException, InterruptedException {
        Path tree = work.resolve("du-tree");
        long started = System.nanoTime();
        long bytes = 0;
        byte[] content = new byte[4096];
        Arrays.fill(content, (byte) 'x');
        int files = knobs.duDirs() * knobs.duFilesPerDir();
        for (int d = 0; d < knobs.duDirs(); d++) {
            Path dir = Files.createDirectories(tree.resolve(String.format(Locale.ROOT, "d%04d", d)));
            for (int f = 0; f < knobs.duFilesPerDir(); f++) {
                int size = 1 + (d * knobs.duFilesPerDir() + f) * 613 % content.length;
                Files.write(dir.resolve(String.format(Locale.ROOT, "f%03d", f)), Arrays.copyOf(content, size));
                bytes += size;
            }
        }
        command("sync");
        fact("du_tree_seconds", String.format(Locale.ROOT, "%.1f", (System.nanoTime() - started) / 1e9));
        fact("du_tree_file_bytes", Long.toString(bytes));
        long reported = Long.parseLong(command("du", "-sb", tree.toString()).split("\\s+")[0]);
        if (reported < bytes) {
            throw new IllegalStateException("du -sb reported " + reported + " bytes, the files hold " + bytes);
        }
        fact("du_reported_bytes", Long.toString(reported));
        long[] ns = new long[knobs.duRuns()];
        for (int i = 0; i < ns.length; i++) {
            long t0 = System.nanoTime();
            command("du", "-sb", tree.toString());
            ns[i] = System.nanoTime() - t0;
        }
        record("du_sb", Integer.toString(files), ns);
    }

    /** Runs a command to completion and returns its standard output; fails on a non-zero exit. */
    private static String command(String... command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(10, TimeUnit.MINUTES) || process.exitValue() != 0) {
            throw new IOException(String.join(" ", command) + " failed");
        }
        return out;
    }

    // ------------------------------------------------------------------------------------------
    // PostgreSQL
    // ------------------------------------------------------------------------------------------

    /**
     * The reservation and the upload on the PostgreSQL server that bench/run-quota.sh started
     * (Debian's binaries, default settings: fsync on) and named in {@code QUOTA_BENCH_POSTGRES_URL};
     * without one, {@code QUOTA_BENCH_POSTGRES_NOTE} says why.
     */
    private void postgres() throws IOException {
        String url = System.getenv("QUOTA_BENCH_POSTGRES_URL");
        if (url == null || url.isBlank()) {
            String note = System.getenv("QUOTA_BENCH_POSTGRES_NOTE");
            fact("postgres", "skipped: " + (note == null || note.isBlank() ? "no server (QUOTA_BENCH_POSTGRES_URL is unset)" : note));
            return;
        }
        Path root = work.resolve("postgres-blobs");
        try (MetadataStore metadata = MetadataStore.open(MetadataLocation.parse(url));
                BuilderdStorage storage = open(root, metadata)) {
            String settings = metadata.read(h -> h.createQuery("SELECT string_agg(name || '=' || setting, ', ' ORDER BY name)"
                    + " FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', 'full_page_writes')")
                    .mapTo(String.class).one());
            fact("postgres", metadata.read(h -> h.createQuery("SELECT version()").mapTo(String.class).one())
                    .replaceAll(" on .*", ""));
            fact("postgres_settings", settings);
            reservations("postgresql", "reservations", storage);
            uploads("postgresql", storage);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Output
    // ------------------------------------------------------------------------------------------

    private void record(String measure, String label, long[] ns) {
        for (int i = 0; i < ns.length; i++) {
            samples.println(measure + "\t" + label + "\t" + i + "\t" + ns[i]);
        }
        long[] sorted = ns.clone();
        Arrays.sort(sorted);
        long median = sorted.length % 2 == 1 ? sorted[sorted.length / 2]
                : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
        long p99 = sorted[(int) Math.ceil(0.99 * sorted.length) - 1];
        summary.println(String.join("\t", measure, label, Integer.toString(sorted.length), Long.toString(median),
                Long.toString(p99), Long.toString(sorted[0]), Long.toString(sorted[sorted.length - 1])));
        progress("%-15s %-22s %5d calls: median %,12.1f µs, p99 %,12.1f µs", measure, label, sorted.length, median / 1e3, p99 / 1e3);
    }

    private void fact(String name, String value) {
        facts.println(name + "\t" + value);
    }

    private static void progress(String format, Object... args) {
        System.out.println("[quota-bench] " + String.format(Locale.ROOT, format, args));
    }

}
