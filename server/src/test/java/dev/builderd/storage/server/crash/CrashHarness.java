package dev.builderd.storage.server.crash;

import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.http.HttpClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import org.awaitility.core.ConditionTimeoutException;

/**
 * The kill -9 harness: starts the daemon in its own process, drives concurrent uploads,
 * completions, deletions, logs and cache writes for several tenants, kills the daemon with
 * SIGKILL at a random moment, restarts it over the same data and checks the {@link Invariants};
 * {@code kills} times over.
 *
 * <p>Knobs (system properties, also through Maven's {@code -D}):
 * <ul>
 *   <li>{@value #SEED_PROPERTY}: the seed; random when unset. It is printed at the start and
 *       is in every failure message. It fixes the workload (operations, names, sizes, bodies)
 *       and the moment of every kill after the load started; the threads' interleaving and so
 *       the exact operations in flight at a kill still vary from run to run.
 *   <li>{@value #KILLS_PROPERTY}: how many kills (default {@value #DEFAULT_KILLS}).
 *   <li>{@value #MAX_LOAD_PROPERTY}: the longest load before a kill, in milliseconds (default
 *       {@value #DEFAULT_MAX_LOAD_MILLIS}); each round draws its length between a fifth of it and it.
 * </ul>
 */
final class CrashHarness {

    static final String SEED_PROPERTY = "builderd.crash.seed";
    static final String KILLS_PROPERTY = "builderd.crash.kills";
    static final String MAX_LOAD_PROPERTY = "builderd.crash.max-load-ms";
    static final int DEFAULT_KILLS = 30;
    static final int DEFAULT_MAX_LOAD_MILLIS = 800;
    private static final String ADMIN = "admin-token-of-the-crash-harness";
    private static final int WORKERS_PER_TENANT = 2;
    /** How long the daemon's background repairs after a start may take to make every invariant hold. */
    private static final Duration SETTLE = Duration.ofSeconds(60);
    private static final List<Invariants.Tenant> TENANTS = List.of(
            new Invariants.Tenant("crash-a", false), new Invariants.Tenant("crash-b", false), new Invariants.Tenant("crash-c", true));

    private final String name;
    private final BackendView backend;
    private final Map<String, String> metadataEnvironment;
    private final Path work;
    private final long seed;
    private final int kills;
    private final int maxLoadMillis;

    /**
     * @param name names the run in its messages (the backend, the metadata store)
     * @param metadataEnvironment the daemon's variables that select its metadata store (none: SQLite in the data root)
     * @param work an empty directory for the data root and the daemon's log
     */
    CrashHarness(String name, BackendView backend, Map<String, String> metadataEnvironment, Path work) {
        this.name = name;
        this.backend = backend;
        this.metadataEnvironment = Map.copyOf(metadataEnvironment);
        this.work = work;
        String seedText = System.getProperty(SEED_PROPERTY, "");
        this.seed = seedText.isBlank() ? ThreadLocalRandom.current().nextLong() : Long.parseLong(seedText.strip());
        this.kills = Integer.getInteger(KILLS_PROPERTY, DEFAULT_KILLS);
        this.maxLoadMillis = Integer.getInteger(MAX_LOAD_PROPERTY, DEFAULT_MAX_LOAD_MILLIS);
    }

    /** Runs every round; throws an {@link AssertionError} naming the seed at the first round whose invariants fail. */
    void run() throws IOException, InterruptedException {
        Path dataRoot = work.resolve("data");
        Path log = work.resolve("daemon.log");
        Files.createDirectories(dataRoot);
        String context = name + " seed=" + seed + " (rerun: -D" + SEED_PROPERTY + "=" + seed + " -D" + KILLS_PROPERTY + "=" + kills
                + "; daemon log " + log + ")";
        System.out.println("crash harness " + context + ": " + kills + " kills");
        Map<String, String> environment = new HashMap<>(backend.environment());
        environment.putAll(metadataEnvironment);
        // Reconciliation every second: the ledger is repaired soon after each restart, where the checks wait for it.
        environment.put("UNKEY_BUILDERD_QUOTA_RECONCILE_SECONDS", "1");
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        ClientModel model = new ClientModel();
        List<Worker> workers = new ArrayList<>();
        for (int i = 0; i < TENANTS.size() * WORKERS_PER_TENANT; i++) {
            workers.add(new Worker(i, TENANTS.get(i % TENANTS.size()).id(), model));
        }
        Random random = new Random(seed);
        DaemonProcess daemon = DaemonProcess.start(http, dataRoot, ADMIN, environment, log);
        try {
            createTenants(daemon.api(), context);
            for (int round = 1; round <= kills; round++) {
                long loadMillis = maxLoadMillis / 5 + random.nextInt(Math.max(1, maxLoadMillis - maxLoadMillis / 5));
                load(daemon, workers, random, loadMillis);
                long killed = System.nanoTime();
                daemon = DaemonProcess.start(http, dataRoot, ADMIN, environment, log);
                long ready = System.nanoTime();
                List<String> problems = new ArrayList<>(model.takeServerErrors());
                problems.addAll(settled(new Invariants(daemon.api(), backend, model, dataRoot)));
                System.out.printf("%s: kill %d/%d after %d ms of load: ready in %d ms, invariants held %d ms later%n", name, round, kills,
                        loadMillis, (ready - killed) / 1_000_000, (System.nanoTime() - ready) / 1_000_000);
                if (!problems.isEmpty()) {
                    throw new AssertionError("crash harness " + context + ", after kill " + round + " of " + kills + " ("
                            + loadMillis + " ms of load): " + problems.size() + " invariant(s) violated:\n- "
                            + String.join("\n- ", problems));
                }
            }
            System.out.println("crash harness " + context + ": all invariants held after " + kills + " kills; the daemons repaired: "
                    + repairs(log));
        } finally {
            daemon.close();
        }
    }

    /**
     * Checks until every invariant holds (the daemon repairs in the background after a start),
     * then settles the model; returns the violations of the last check when they persist, or at
     * once when an acknowledged write or delete is lost (no repair may change those).
     */
    private static List<String> settled(Invariants invariants) {
        List<List<String>> last = new ArrayList<>(List.of(List.of("no check completed")));
        try {
            await().atMost(SETTLE).pollInterval(Duration.ofMillis(300)).ignoreExceptions()
                    .failFast("an acknowledged write or delete was lost", () -> !invariants.lostAcknowledged().isEmpty())
                    .until(() -> {
                        last.set(0, invariants.check(TENANTS));
                        return last.get(0).isEmpty();
                    });
        } catch (ConditionTimeoutException | org.awaitility.core.TerminalFailureException e) {
            return last.get(0);
        }
        invariants.settle();
        return List.of();
    }

    /** How often the daemons logged each kind of repair: evidence that the kills hit the windows that need one. */
    private static Map<String, Long> repairs(Path log) throws IOException {
        java.util.regex.Pattern event = java.util.regex.Pattern.compile(
                "event=(artifact_repair|quota_drift|cache_index_repaired)[^:]*: ([a-z ]+)|(removed \\d+ temporary files)");
        Map<String, Long> counts = new java.util.TreeMap<>();
        for (String line : Files.readAllLines(log)) {
            java.util.regex.Matcher matcher = event.matcher(line);
            if (matcher.find()) {
                String kind = matcher.group(3) != null ? "temporary files swept" : matcher.group(1)
                        + (matcher.group(1).equals("artifact_repair") ? " (" + matcher.group(2).strip() + ")" : "");
                counts.merge(kind, 1L, Long::sum);
            }
        }
        return counts;
    }

    private static void createTenants(Api api, String context) throws IOException, InterruptedException {
        for (Invariants.Tenant tenant : TENANTS) {
            // Many builds stay active across kills (their leases run): the concurrent-build limit must not refuse the load.
            String body = "{\"tier\":\"" + (tenant.encrypted() ? "enterprise" : "pro") + "\",\"limits\":{\"concurrent_builds\":1000}}";
            Api.Reply reply = api.send("PUT", "/v1/tenants/" + tenant.id(), body);
            if (!reply.ok()) {
                throw new AssertionError("crash harness " + context + ": creating tenant " + tenant.id() + " answered "
                        + reply.status() + " " + reply.text());
            }
        }
    }

    /** Runs the workers against the daemon for {@code loadMillis}, then kills it with SIGKILL while they still send. */
    private static void load(DaemonProcess daemon, List<Worker> workers, Random random, long loadMillis) throws InterruptedException {
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> threads = new ArrayList<>();
        for (Worker worker : workers) {
            Random own = new Random(random.nextLong());
            threads.add(Thread.ofVirtual().name("crash-worker").start(() -> {
                try {
                    worker.run(daemon.api(), own, stop::get);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }));
        }
        // Not a synchronisation: the moment of the kill is what is being drawn.
        Thread.sleep(loadMillis);
        daemon.kill();
        stop.set(true);
        for (Thread thread : threads) {
            thread.join();
        }
    }
}
