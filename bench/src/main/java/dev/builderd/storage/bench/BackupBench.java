package dev.builderd.storage.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.core.BackupService;
import dev.builderd.storage.core.BuilderdStorage;
import dev.builderd.storage.core.CoreConfig;
import dev.builderd.storage.core.Layout;
import dev.builderd.storage.core.Stores;
import dev.builderd.storage.core.metadata.BackupRows;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.model.ArtifactInfo;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.BuildStatus;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import dev.builderd.storage.core.quota.Limits;
import dev.builderd.storage.core.quota.Quotas;
import dev.builderd.storage.testing.SeededBytes;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Builderd's backups against {@code rsync -a --link-dest} and {@code restic backup} on the same
 * tenant tree, in one run (driven by {@code bench/run-backup.sh}, which documents the knobs):
 *
 * <ol>
 *   <li>one plaintext tenant gets {@code files} artifacts totalling {@code bytes} (seeded random,
 *       streamed, sizes skewed: most small, a few multi-MiB) in completed builds, uploaded through
 *       {@code artifacts().upload} so that every metadata row exists;
 *   <li>full backups of it: builderd's ({@code startBackup} until the job ends) into a
 *       {@link FileBlobStore} directory, {@code rsync -a} and {@code restic backup} of the builds
 *       directory builderd stored, all targets on the same disk;
 *   <li>the change: 1% of the builds (and so of the files) deleted and as many new builds, with as
 *       many new files drawn from the same size distribution, uploaded; builderd's artifacts are
 *       immutable once a build completes, so "1% of the files changed" is 1% replaced;
 *   <li>incremental backups of the changed tree: builderd's, {@code rsync -a --link-dest=../full}
 *       into a new directory, and restic's second {@code backup} (its parent found by host and path);
 *   <li>the same three backups again with nothing changed: the cost of finding that out;
 *   <li>a restore of one unchanged build (the largest) from builderd's incremental snapshot into
 *       another tenant.
 * </ol>
 *
 * <p>The page cache is dropped before each timed step when the process may ({@code
 * /proc/sys/vm/drop_caches}, root only); the results say whether it was. Arguments: a work
 * directory on a real disk (the caller deletes it) and the results directory, which gets {@code
 * summary.tsv} (one row per timed step), {@code facts.tsv}, {@code table.md} (the markdown block)
 * and the baselines' raw output.
 */
public final class BackupBench {

    private static final Principal ADMIN = new Principal.Admin();
    private static final String ADMIN_TOKEN = "backup-bench-admin-token";
    private static final TenantId TENANT = TenantId.of("bench");
    private static final TenantId RESTORED = TenantId.of("bench-restored");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern RSYNC_TRANSFERRED = Pattern.compile("Total transferred file size: ([\\d,]+)");
    private static final Pattern RSYNC_FILES = Pattern.compile("Number of regular files transferred: ([\\d,]+)");
    private static final long MIB = 1 << 20;

    /** The knobs, from the environment (bench/run-backup.sh lists them with their defaults). */
    record Knobs(int files, long bytes, int filesPerBuild, double changePercent, long seed, boolean dropCaches) {

        static Knobs fromEnvironment() {
            Knobs knobs = new Knobs(Integer.parseInt(env("BENCH_BACKUP_FILES", "100000")), bytes(env("BENCH_BACKUP_BYTES", "5G")),
                    Integer.parseInt(env("BENCH_BACKUP_FILES_PER_BUILD", "100")),
                    Double.parseDouble(env("BENCH_BACKUP_CHANGE_PERCENT", "1")), Long.parseLong(env("BENCH_BACKUP_SEED", "20261126")),
                    !env("BENCH_BACKUP_DROP_CACHES", "1").equals("0"));
            if (knobs.files() < knobs.filesPerBuild() * 3 || knobs.bytes() < knobs.files()) {
                throw new IllegalArgumentException("BENCH_BACKUP_FILES must be at least 3 builds of BENCH_BACKUP_FILES_PER_BUILD"
                        + " files, and BENCH_BACKUP_BYTES at least one byte per file; were " + knobs);
            }
            return knobs;
        }

        int builds() {
            return (files + filesPerBuild - 1) / filesPerBuild;
        }

        /** Builds replaced by the change: {@code changePercent} of them, at least one. */
        int changedBuilds() {
            return Math.max(1, (int) Math.round(builds() * changePercent / 100));
        }

        /** A size with an optional binary suffix (K, M, G, T): "5G" is 5 GiB. */
        private static long bytes(String value) {
            String v = value.trim().toUpperCase(Locale.ROOT);
            int shift = switch (v.isEmpty() ? ' ' : v.charAt(v.length() - 1)) {
                case 'K' -> 10;
                case 'M' -> 20;
                case 'G' -> 30;
                case 'T' -> 40;
                default -> 0;
            };
            return Long.parseLong(shift == 0 ? v : v.substring(0, v.length() - 1)) << shift;
        }

        private static String env(String name, String otherwise) {
            String value = System.getenv(name);
            return value == null || value.isBlank() ? otherwise : value;
        }
    }

    /** One timed step: which tool, what it did, how long, and what it copied (-1: not reported). */
    private record Step(String tool, String step, long nanos, long copiedBytes, long copiedFiles, String note) {
    }

    private final Knobs knobs;
    private final Path work;
    private final Path results;
    private final Path dataRoot;
    private final Path tree;
    private final PrintWriter facts;
    private final List<Step> steps = new ArrayList<>();
    private final Map<String, String> factValues = new HashMap<>();
    private final SizeModel sizes;
    /** Bytes of each initial build, to pick the build the restore takes. */
    private final long[] buildBytes;
    /** Initial builds the change deleted. */
    private final java.util.Set<Integer> deletedBuilds = new java.util.HashSet<>();
    private boolean cachesDropped;

    private BackupBench(Knobs knobs, Path work, Path results) throws IOException {
        this.knobs = knobs;
        this.work = work;
        this.results = results;
        this.dataRoot = work.resolve("data");
        this.tree = dataRoot.resolve("tenants").resolve(TENANT.value()).resolve("builds");
        this.facts = new PrintWriter(Files.newBufferedWriter(results.resolve("facts.tsv"), StandardCharsets.UTF_8), true);
        this.sizes = new SizeModel(knobs);
        this.buildBytes = new long[knobs.builds()];
        facts.println("fact\tvalue");
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: BackupBench WORK_DIR RESULTS_DIR   (run through bench/run-backup.sh)");
            System.exit(2);
        }
        BackupBench bench = new BackupBench(Knobs.fromEnvironment(), Path.of(args[0]), Path.of(args[1]));
        try {
            bench.run();
        } finally {
            bench.facts.close();
        }
        // The storage's background threads are daemons.
        System.exit(0);
    }

    private void run() throws Exception {
        try (MetadataStore metadata = MetadataStore.open(MetadataLocation.sqlite(dataRoot.resolve("metadata/builderd.db")));
                BuilderdStorage storage = open(metadata)) {
            BackupService backups = storage.enableBackups(new FileBlobStore(work.resolve("builderd-backup")), BackupService.Retention.DEFAULTS);
            populate(storage);
            Path rsyncRoot = Files.createDirectories(work.resolve("rsync-backup"));
            Map<String, String> restic = resticEnvironment();

            steps.add(builderdBackup(backups, "full backup"));
            steps.add(rsync("full backup", List.of("rsync", "-a", "--stats", tree + "/", rsyncRoot.resolve("full") + "/")));
            command("restic-init", restic, "restic", "init");
            steps.add(restic("full backup", restic));

            change(storage);

            Step incremental = builderdBackup(backups, "incremental backup");
            steps.add(incremental);
            steps.add(rsync("incremental backup", List.of("rsync", "-a", "--stats", "--link-dest=../full", tree + "/",
                    rsyncRoot.resolve("incr") + "/")));
            steps.add(restic("incremental backup", restic));

            // Nothing changed since: what each tool pays just to find that out (builderd: a manifest only).
            steps.add(builderdBackup(backups, "unchanged backup"));
            steps.add(rsync("unchanged backup", List.of("rsync", "-a", "--stats", "--link-dest=../incr", tree + "/",
                    rsyncRoot.resolve("unchanged") + "/")));
            steps.add(restic("unchanged backup", restic));

            steps.add(restoreOneBuild(storage, backups, incremental.note()));
            fact("builderd_backup_bytes", Long.toString(treeBytes(work.resolve("builderd-backup"))));
            fact("restic_repository_bytes", Long.toString(treeBytes(work.resolve("restic-repo"))));
        }
        fact("caches", cachesDropped ? "dropped before each timed step (sync; echo 3 > /proc/sys/vm/drop_caches)"
                : knobs.dropCaches() ? "warm: /proc/sys/vm/drop_caches is not writable (not root?)"
                : "warm: BENCH_BACKUP_DROP_CACHES=0");
        writeSummary();
    }

    /** An embedded storage over the data root; reconciliation only at start-up, so it never runs during a measurement. */
    private BuilderdStorage open(MetadataStore metadata) throws IOException {
        CoreConfig defaults = CoreConfig.defaults(Layout.under(dataRoot));
        Quotas.Config q = defaults.quotas();
        CoreConfig config = defaults.withQuotas(new Quotas.Config(q.softPercent(), q.action(), q.throttleWait(),
                q.reservationLease(), q.checkInterval(), Duration.ofDays(1)));
        return new BuilderdStorage(config, metadata, Stores.single(new FileBlobStore(dataRoot)), ADMIN_TOKEN, Clock.systemUTC());
    }

    // ------------------------------------------------------------------------------------------
    // The tenant tree and its change
    // ------------------------------------------------------------------------------------------

    /**
     * File sizes: a fixed skewed draw (90% of 1 B to 16 KiB, 9% of 16 to 256 KiB, 1% of 1 to 8
     * MiB), scaled so that the tenant's {@code files} sum to exactly {@code bytes}. The change's new
     * files come from the same draw, with the same scale, so they are about {@code changePercent}
     * of the bytes too.
     */
    private static final class SizeModel {
        private final long[] initial;
        private final double scale;
        private final SplittableRandom changeDraw;

        SizeModel(Knobs knobs) {
            SplittableRandom draw = new SplittableRandom(knobs.seed());
            long[] raw = new long[knobs.files()];
            long sum = 0;
            for (int i = 0; i < raw.length; i++) {
                raw[i] = rawSize(draw);
                sum += raw[i];
            }
            this.scale = (double) knobs.bytes() / sum;
            this.initial = new long[raw.length];
            long assigned = 0;
            for (int i = 0; i < raw.length - 1; i++) {
                initial[i] = Math.max(1, Math.round(raw[i] * scale));
                assigned += initial[i];
            }
            // The last file takes the rounding remainder, so the total is exact.
            initial[raw.length - 1] = Math.max(1, knobs.bytes() - assigned);
            this.changeDraw = new SplittableRandom(knobs.seed() + 1);
        }

        private static long rawSize(SplittableRandom draw) {
            int bucket = draw.nextInt(100);
            if (bucket < 90) {
                return draw.nextLong(1, 16 * 1024 + 1);
            }
            if (bucket < 99) {
                return draw.nextLong(16 * 1024, 256 * 1024 + 1);
            }
            return draw.nextLong(MIB, 8 * MIB + 1);
        }

        long initial(int file) {
            return initial[file];
        }

        long nextChanged() {
            return Math.max(1, Math.round(rawSize(changeDraw) * scale));
        }

        long largest() {
            return java.util.Arrays.stream(initial).max().orElse(0);
        }
    }

    private static BuildRef build(int index) {
        return new BuildRef(TENANT, BuildId.of(String.format(Locale.ROOT, "b%06d", index)));
    }

    /** A plaintext tenant with limits above the tree, then every build uploaded and completed. */
    private void populate(BuilderdStorage storage) throws IOException, InterruptedException {
        long lots = 1L << 40;
        for (TenantId tenant : List.of(TENANT, RESTORED)) {
            storage.tenants().put(ADMIN, tenant, Tier.PRO, false);
            storage.quotas().setOverrides(ADMIN, tenant, new Limits.Overrides(OptionalLong.of(lots), OptionalLong.of(lots),
                    OptionalLong.empty(), Optional.of(50), Optional.empty(), Optional.empty()));
        }
        long started = System.nanoTime();
        long uploaded = 0;
        int file = 0;
        for (int b = 0; b < knobs.builds(); b++) {
            int count = Math.min(knobs.filesPerBuild(), knobs.files() - file);
            long[] buildSizes = new long[count];
            for (int i = 0; i < count; i++) {
                buildSizes[i] = sizes.initial(file++);
            }
            buildBytes[b] = upload(storage, build(b), buildSizes, b);
            uploaded += buildBytes[b];
            if ((b + 1) % Math.max(1, knobs.builds() / 10) == 0) {
                double seconds = (System.nanoTime() - started) / 1e9;
                progress("set-up: %,d of %,d builds, %,d files, %,d MiB uploaded in %.0f s (%.1f MiB/s)", b + 1, knobs.builds(), file,
                        uploaded / MIB, seconds, uploaded / MIB / seconds);
            }
        }
        command("sync", Map.of(), "sync");
        fact("setup_seconds", String.format(Locale.ROOT, "%.0f", (System.nanoTime() - started) / 1e9));
        fact("files", Integer.toString(knobs.files()));
        fact("bytes", Long.toString(uploaded));
        fact("builds", Integer.toString(knobs.builds()));
        fact("files_per_build", Integer.toString(knobs.filesPerBuild()));
        fact("largest_file_bytes", Long.toString(sizes.largest()));
        fact("tree_files_before", Long.toString(treeFiles(tree)));
        fact("tree_bytes_before", Long.toString(treeBytes(tree)));
    }

    /** Creates a build, uploads one artifact per size (content seeded by build and position), completes it. */
    private long upload(BuilderdStorage storage, BuildRef ref, long[] buildSizes, long seed) {
        storage.builds().create(ADMIN, TENANT, Optional.of(ref.build()), Duration.ofHours(1));
        long bytes = 0;
        for (int i = 0; i < buildSizes.length; i++) {
            FileName name = FileName.of(String.format(Locale.ROOT, "file-%04d.bin", i));
            try (InputStream content = SeededBytes.stream(knobs.seed() * 31 + seed * 100_003 + i, buildSizes[i])) {
                storage.artifacts().upload(ADMIN, ref, name, content, buildSizes[i], null);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            bytes += buildSizes[i];
        }
        storage.builds().complete(ADMIN, ref, BuildStatus.SUCCEEDED);
        return bytes;
    }

    /**
     * "1% of the files changed": the builds at every {@code 100 / changePercent}-th position deleted
     * (with their files), and as many new builds, with as many new files, uploaded. Not timed; all
     * three tools back up the tree as it is afterwards.
     */
    private void change(BuilderdStorage storage) throws IOException, InterruptedException {
        int changed = knobs.changedBuilds();
        int stride = knobs.builds() / changed;
        long removedBytes = 0;
        int removedFiles = 0;
        for (int k = 0; k < changed; k++) {
            int index = k * stride + stride / 2;
            deletedBuilds.add(index);
            BuildRef old = build(index);
            List<ArtifactInfo> rows = storage.artifacts().list(ADMIN, old);
            removedFiles += rows.size();
            removedBytes += rows.stream().mapToLong(ArtifactInfo::size).sum();
            storage.builds().delete(ADMIN, old);
        }
        long addedBytes = 0;
        int addedFiles = 0;
        for (int k = 0; k < changed; k++) {
            long[] buildSizes = new long[knobs.filesPerBuild()];
            for (int i = 0; i < buildSizes.length; i++) {
                buildSizes[i] = sizes.nextChanged();
            }
            addedBytes += upload(storage, build(knobs.builds() + k), buildSizes, knobs.builds() + k);
            addedFiles += buildSizes.length;
        }
        command("sync", Map.of(), "sync");
        fact("change", String.format(Locale.ROOT, "%d build(s) deleted (%,d files, %,d bytes), %d new build(s) (%,d files, %,d bytes)",
                changed, removedFiles, removedBytes, changed, addedFiles, addedBytes));
        fact("change_added_bytes", Long.toString(addedBytes));
        fact("change_added_files", Integer.toString(addedFiles));
        fact("tree_files_after", Long.toString(treeFiles(tree)));
        progress("change: %s", factValues.get("change"));
    }

    // ------------------------------------------------------------------------------------------
    // The timed steps
    // ------------------------------------------------------------------------------------------

    /** A builderd backup of the tenant, from {@code startBackup} until its job has ended; the note is its snapshot ID. */
    private Step builderdBackup(BackupService backups, String step) throws IOException, InterruptedException {
        dropCaches();
        long t0 = System.nanoTime();
        BackupRows.Run run = awaitEnd(backups, backups.startBackup(ADMIN, Optional.of(TENANT)));
        long nanos = System.nanoTime() - t0;
        JsonNode snapshot = JSON.readTree(run.result().orElse("{}")).path("snapshots").path(0);
        Step done = new Step("builderd", step, nanos, snapshot.path("copied_bytes").asLong(-1), snapshot.path("copied_objects").asLong(-1),
                snapshot.path("snapshot").asText());
        fact("builderd/" + step + "/job", run.runId() + " " + run.result().orElse(""));
        report(done);
        return done;
    }

    /**
     * Restores the largest unchanged build of the snapshot (its content from the full backup) into
     * another tenant, from {@code startRestore} until the job has ended.
     */
    private Step restoreOneBuild(BuilderdStorage storage, BackupService backups, String snapshotId)
            throws IOException, InterruptedException {
        int largest = 0;
        for (int b = 0; b < buildBytes.length; b++) {
            if (!deletedBuilds.contains(b) && buildBytes[b] > buildBytes[largest]) {
                largest = b;
            }
        }
        BuildRef chosen = build(largest);
        List<ArtifactInfo> original = storage.artifacts().list(ADMIN, chosen);
        dropCaches();
        long t0 = System.nanoTime();
        BackupRows.Run run = awaitEnd(backups, backups.startRestore(ADMIN, new BackupService.RestoreRequest(TENANT,
                Optional.of(snapshotId), Optional.empty(), Optional.of(chosen.build()), Optional.empty(), Optional.of(RESTORED))));
        long nanos = System.nanoTime() - t0;
        List<ArtifactInfo> restored = storage.artifacts().list(ADMIN, new BuildRef(RESTORED, chosen.build()));
        long bytes = restored.stream().mapToLong(ArtifactInfo::size).sum();
        if (restored.size() != original.size() || bytes != original.stream().mapToLong(ArtifactInfo::size).sum()) {
            throw new IllegalStateException("the restored build " + chosen.build() + " holds " + restored.size() + " artifacts of "
                    + bytes + " bytes, the original " + original.size());
        }
        fact("builderd/restore/job", run.runId() + " " + run.result().orElse(""));
        Step done = new Step("builderd", "restore of one build", nanos, bytes, restored.size(),
                "build " + chosen.build() + " into tenant " + RESTORED);
        report(done);
        return done;
    }

    private static BackupRows.Run awaitEnd(BackupService backups, BackupRows.Run started) throws InterruptedException {
        while (true) {
            BackupRows.Run run = backups.run(ADMIN, started.runId());
            if (!run.state().equals(BackupRows.RUNNING)) {
                if (!run.state().equals(BackupRows.FINISHED)) {
                    throw new IllegalStateException("backup job " + run.runId() + " ended " + run.state() + ": " + run.result().orElse(""));
                }
                return run;
            }
            Thread.sleep(5);
        }
    }

    private Step rsync(String step, List<String> commandLine) throws IOException, InterruptedException {
        dropCaches();
        long t0 = System.nanoTime();
        String out = command("rsync-" + step.replace(' ', '-'), Map.of(), commandLine.toArray(String[]::new));
        long nanos = System.nanoTime() - t0;
        Step done = new Step("rsync", step, nanos, number(RSYNC_TRANSFERRED, out), number(RSYNC_FILES, out),
                String.join(" ", commandLine).replace(work.toString(), "$WORK"));
        report(done);
        return done;
    }

    private static long number(Pattern pattern, String text) {
        Matcher m = pattern.matcher(text);
        return m.find() ? Long.parseLong(m.group(1).replace(",", "")) : -1;
    }

    private Map<String, String> resticEnvironment() throws IOException {
        return Map.of("RESTIC_REPOSITORY", work.resolve("restic-repo").toString(), "RESTIC_PASSWORD", "backup-bench",
                "RESTIC_CACHE_DIR", Files.createDirectories(work.resolve("restic-cache")).toString());
    }

    /** {@code restic backup} of the tree; what it added comes from its JSON summary ({@code data_added}, new files). */
    private Step restic(String step, Map<String, String> environment) throws IOException, InterruptedException {
        dropCaches();
        long t0 = System.nanoTime();
        String out = command("restic-" + step.replace(' ', '-'), environment, "restic", "backup", "--json", "--host", "backup-bench",
                tree.toString());
        long nanos = System.nanoTime() - t0;
        JsonNode summary = JSON.createObjectNode();
        for (String line : out.split("\n")) {
            if (line.contains("\"message_type\":\"summary\"")) {
                summary = JSON.readTree(line);
            }
        }
        Step done = new Step("restic", step, nanos, summary.path("data_added").asLong(-1),
                summary.path("files_new").asLong(0) + summary.path("files_changed").asLong(0),
                "restic backup (" + summary.path("files_unmodified").asLong(0) + " files unmodified)");
        report(done);
        return done;
    }

    /**
     * Writes dirty pages back and empties the page cache, so the next step reads from the disk;
     * when the process may not (not root), every step runs warm and the results say so.
     */
    private void dropCaches() throws IOException, InterruptedException {
        if (!knobs.dropCaches()) {
            return;
        }
        command("sync", Map.of(), "sync");
        try {
            Files.writeString(Path.of("/proc/sys/vm/drop_caches"), "3\n");
            cachesDropped = true;
        } catch (IOException notAllowed) {
            if (cachesDropped) {
                throw new IOException("dropping the page cache worked before and fails now", notAllowed);
            }
        }
    }

    /** Runs a command to completion, its output kept in the results directory as {@code name}.out; fails on a non-zero exit. */
    private String command(String name, Map<String, String> environment, String... commandLine) throws IOException, InterruptedException {
        Path log = results.resolve(name + ".out");
        ProcessBuilder builder = new ProcessBuilder(commandLine).redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().putAll(environment);
        Process process = builder.start();
        if (!process.waitFor(2, TimeUnit.HOURS) || process.exitValue() != 0) {
            process.destroyForcibly();
            throw new IOException(String.join(" ", commandLine) + " failed; its output: " + log);
        }
        return Files.readString(log);
    }

    // ------------------------------------------------------------------------------------------
    // Output
    // ------------------------------------------------------------------------------------------

    private static long treeFiles(Path root) throws IOException {
        try (Stream<Path> files = Files.walk(root)) {
            return files.filter(Files::isRegularFile).count();
        }
    }

    private static long treeBytes(Path root) throws IOException {
        try (Stream<Path> files = Files.walk(root)) {
            return files.filter(Files::isRegularFile).mapToLong(file -> {
                try {
                    return Files.size(file);
                } catch (IOException gone) {
                    return 0;
                }
            }).sum();
        }
    }

    private void report(Step step) {
        progress("%-8s %-20s %9.2f s, copied %s in %s files", step.tool(), step.step(), step.nanos() / 1e9,
                step.copiedBytes() < 0 ? "?" : String.format(Locale.ROOT, "%,d bytes", step.copiedBytes()),
                step.copiedFiles() < 0 ? "?" : String.format(Locale.ROOT, "%,d", step.copiedFiles()));
    }

    private Step step(String tool, String step) {
        return steps.stream().filter(s -> s.tool().equals(tool) && s.step().equals(step)).findFirst().orElseThrow();
    }

    /** summary.tsv (a row per step) and table.md: the figures, and the two targets of issue 9 checked. */
    private void writeSummary() throws IOException {
        try (PrintWriter summary = new PrintWriter(Files.newBufferedWriter(results.resolve("summary.tsv"), StandardCharsets.UTF_8))) {
            summary.println("tool\tstep\tseconds\tcopied_bytes\tcopied_files\tnote");
            for (Step s : steps) {
                summary.println(String.join("\t", s.tool(), s.step(), String.format(Locale.ROOT, "%.3f", s.nanos() / 1e9),
                        Long.toString(s.copiedBytes()), Long.toString(s.copiedFiles()), s.note()));
            }
        }
        StringBuilder md = new StringBuilder();
        md.append("| step | builderd | `rsync -a` (after the full: `--link-dest` to the previous tree) | `restic backup` |\n|---|---|---|---|\n");
        for (String step : List.of("full backup", "incremental backup", "unchanged backup")) {
            md.append("| ").append(step);
            for (String tool : List.of("builderd", "rsync", "restic")) {
                Step s = step(tool, step);
                md.append(String.format(Locale.ROOT, " | %.2f s (%s copied, %,d files)", s.nanos() / 1e9, mib(s.copiedBytes()),
                        s.copiedFiles()));
            }
            md.append(" |\n");
        }
        Step restore = step("builderd", "restore of one build");
        md.append(String.format(Locale.ROOT, "| restore of the largest build (%,d artifacts, %s) into another tenant | %.2f s | — | — |%n",
                restore.copiedFiles(), mib(restore.copiedBytes()), restore.nanos() / 1e9));
        double incrementalRatio = (double) step("builderd", "incremental backup").nanos() / step("rsync", "incremental backup").nanos();
        double restoreSeconds = restore.nanos() / 1e9;
        md.append(String.format(Locale.ROOT, "%nTargets (issue 9): the incremental backup at most half of rsync's time: %.2f× rsync's,"
                + " **%s**; a single-build restore under 2 s: %.2f s, **%s**.%n", incrementalRatio,
                incrementalRatio <= 0.5 ? "met" : "missed", restoreSeconds, restoreSeconds < 2 ? "met" : "missed"));
        md.append(String.format(Locale.ROOT, "%nTree: %,d files, %s in %,d builds of %,d (%s on disk: the artifacts plus each build's"
                + " `manifest.json` and `checksums.sha256`, which builderd rewrites rather than backs up). Change: %s. Page cache: %s."
                + " Sizes on the backup disk afterwards: builderd's target %s, rsync's trees share unchanged files by hard"
                + " links, restic's repository %s.%n",
                knobs.files(), mib(Long.parseLong(factValues.get("bytes"))), knobs.builds(), knobs.filesPerBuild(),
                String.format(Locale.ROOT, "%,d files", Long.parseLong(factValues.get("tree_files_before"))), factValues.get("change"),
                factValues.get("caches"),
                mib(Long.parseLong(factValues.get("builderd_backup_bytes"))), mib(Long.parseLong(factValues.get("restic_repository_bytes")))));
        Files.writeString(results.resolve("table.md"), md.toString());
    }

    private static String mib(long bytes) {
        return bytes < 0 ? "?" : String.format(Locale.ROOT, "%,.1f MiB", bytes / (double) MIB);
    }

    private void fact(String name, String value) {
        factValues.put(name, value);
        facts.println(name + "\t" + value);
    }

    private static void progress(String format, Object... args) {
        System.out.println("[backup-bench] " + String.format(Locale.ROOT, format, args));
    }
}
