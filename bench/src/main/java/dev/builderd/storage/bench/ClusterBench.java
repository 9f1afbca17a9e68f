package dev.builderd.storage.bench;

import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.blob.s3.S3BlobStore;
import dev.builderd.storage.blob.s3.S3Settings;
import dev.builderd.storage.server.Main;
import dev.builderd.storage.testing.PostgresServer;
import dev.builderd.storage.testing.S3ProxyServer;
import dev.builderd.storage.testing.SeededBytes;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Several daemons on one machine against one shared PostgreSQL and one shared object store
 * (s3proxy), as issue 10's benchmark asks: the aggregate rate of small cache writes and reads
 * and the aggregate throughput of large artifact uploads and downloads with 1, 2 and 3 daemons
 * (clients spread round-robin over them), and the per-request cost of the PostgreSQL ledger
 * against the SQLite one (one daemon, filesystem backend, small artifact uploads one after the
 * other); the small figures' baseline is the same traffic straight to s3proxy. Prints one line per figure and a markdown table; see bench/run-cluster.sh.
 */
public final class ClusterBench {

    private static final String ADMIN = "admin-token-for-the-cluster-bench-0123";
    private static final Pattern TOKEN = Pattern.compile("\"token\"\\s*:\\s*\"([^\"]+)\"");

    private final Path work;
    private final int smallOps;
    private final int smallBytes;
    private final int clients;
    private final long bigBytes;
    private final int ledgerOps;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final List<String> rows = new ArrayList<>();

    private ClusterBench(Path work) {
        this.work = work;
        this.smallOps = Integer.getInteger("bench.cluster.smallOps", 20_000);
        this.smallBytes = Integer.getInteger("bench.cluster.smallBytes", 4096);
        this.clients = Integer.getInteger("bench.cluster.clients", 32);
        this.bigBytes = Long.getLong("bench.cluster.bigMiB", 1024) << 20;
        this.ledgerOps = Integer.getInteger("bench.cluster.ledgerOps", 2000);
    }

    public static void main(String[] args) throws Exception {
        ClusterBench bench = new ClusterBench(Path.of(args[0]));
        bench.run();
        System.exit(0);
    }

    private void run() throws Exception {
        PostgresServer postgres = PostgresServer.shared();
        S3ProxyServer s3 = S3ProxyServer.shared();
        measureSmallOnS3proxy(s3);
        for (int nodes = 1; nodes <= 3; nodes++) {
            Map<String, String> environment = new HashMap<>(Map.of(
                    "UNKEY_BUILDERD_METADATA_URL", postgres.newDatabase().url(),
                    "UNKEY_BUILDERD_STORAGE_BACKEND", "s3",
                    "UNKEY_BUILDERD_S3_ENDPOINT", s3.endpoint().toString(),
                    "UNKEY_BUILDERD_S3_BUCKET", s3.newBucket(),
                    "UNKEY_BUILDERD_S3_REGION", s3.region(),
                    "UNKEY_BUILDERD_S3_ACCESS_KEY_ID", s3.accessKey(),
                    "UNKEY_BUILDERD_S3_SECRET_ACCESS_KEY", s3.secretKey(),
                    "UNKEY_BUILDERD_CACHE_MEMORY_TIER_MB", "0"));
            List<Daemon> daemons = new ArrayList<>();
            try {
                for (int i = 0; i < nodes; i++) {
                    daemons.add(Daemon.start(http, work.resolve("cluster-" + nodes + "-node-" + i), environment));
                }
                String token = tenant(daemons.getFirst(), "bench-" + nodes);
                measureSmall(daemons, "bench-" + nodes, token);
                measureBig(daemons, "bench-" + nodes, token);
            } finally {
                daemons.forEach(Daemon::close);
            }
        }
        double sqlite = ledgerCost(Map.of());
        double postgresql = ledgerCost(Map.of("UNKEY_BUILDERD_METADATA_URL", postgres.newDatabase().url()));
        report("ledger", "per small artifact upload, one daemon, filesystem backend: SQLite %.2f ms, PostgreSQL %.2f ms (%+.2f ms)"
                .formatted(sqlite, postgresql, postgresql - sqlite));
        System.out.println();
        System.out.println("| figure | value |");
        System.out.println("|---|---|");
        rows.forEach(System.out::println);
    }

    private void report(String name, String text) {
        System.out.println("[cluster-bench] " + name + ": " + text);
        rows.add("| " + name + " | " + text + " |");
    }

    /** A pro tenant with room for the run, and a token of it. */
    private String tenant(Daemon daemon, String tenant) throws IOException, InterruptedException {
        long room = 4 * bigBytes * 3 + (long) smallOps * smallBytes * 4;
        daemon.send("PUT", "/v1/tenants/" + tenant, ADMIN, "{\"tier\":\"pro\",\"encryption\":false,\"limits\":{\"total_bytes\":" + room
                + ",\"artifact_bytes\":" + room + ",\"cache_bytes\":" + room + ",\"concurrent_builds\":100,"
                + "\"requests_per_second\":1000000000,\"bytes_per_second\":1000000000000,\"concurrent_requests\":100000}}", 200, 201);
        Matcher token = TOKEN.matcher(daemon.send("POST", "/v1/tenants/" + tenant + "/tokens", ADMIN, null, 200, 201));
        if (!token.find()) {
            throw new IllegalStateException("no token in the answer");
        }
        return token.group(1);
    }

    private void measureSmall(List<Daemon> daemons, String tenant, String token) throws Exception {
        byte[] content = SeededBytes.array(20261126, smallBytes);
        for (String method : List.of("PUT", "GET")) {
            double rate = smallRate(i -> {
                Daemon daemon = daemons.get((int) (i % daemons.size()));
                String path = "/v1/tenants/" + tenant + "/cache/dependencies/npm/entry-" + i + ".tgz";
                HttpRequest.Builder request = HttpRequest.newBuilder(daemon.base.resolve(path)).header("Authorization", "Bearer " + token);
                request = method.equals("PUT") ? request.PUT(HttpRequest.BodyPublishers.ofByteArray(content)) : request.GET();
                HttpResponse<byte[]> answer = http.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
                if (answer.statusCode() >= 300) {
                    throw new IllegalStateException(method + " " + path + " answered " + answer.statusCode());
                }
            });
            report(daemons.size() + " daemon(s): small " + method, "%,.0f requests/s (%d × %d KiB, %d clients)"
                    .formatted(rate, smallOps, smallBytes >> 10, clients));
        }
    }

    /**
     * The baseline of the small figures: the same writes and reads straight to s3proxy through the
     * daemon's own S3 client ({@link S3BlobStore}), no daemon in between.
     */
    private void measureSmallOnS3proxy(S3ProxyServer s3) throws Exception {
        byte[] content = SeededBytes.array(20261126, smallBytes);
        S3Settings settings = S3Settings.compatible(s3.endpoint(), s3.newBucket(), s3.accessKey(), s3.secretKey());
        try (S3BlobStore store = new S3BlobStore(settings)) {
            double put = smallRate(i -> store.put(BlobKey.of("entry-" + i + ".tgz"), new ByteArrayInputStream(content), content.length,
                    WriteMode.OVERWRITE));
            double get = smallRate(i -> {
                try (InputStream in = store.open(BlobKey.of("entry-" + i + ".tgz"), ByteRange.ALL)) {
                    in.transferTo(OutputStream.nullOutputStream());
                }
            });
            report("baseline: s3proxy alone, small PUT / GET", "%,.0f / %,.0f requests/s (the same %d × %d KiB by %d clients, through"
                    .formatted(put, get, smallOps, smallBytes >> 10, clients) + " the daemon's S3 client, no daemon)");
        }
    }

    private interface SmallOperation {
        void run(long index) throws Exception;
    }

    /** Runs {@code operation} for indexes 0 to smallOps - 1 on {@code clients} threads; returns operations per second. */
    private double smallRate(SmallOperation operation) throws Exception {
        AtomicLong next = new AtomicLong();
        long started = System.nanoTime();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> workers = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                workers.add(pool.submit(() -> {
                    for (long i; (i = next.getAndIncrement()) < smallOps; ) {
                        operation.run(i);
                    }
                    return null;
                }));
            }
            for (Future<?> worker : workers) {
                worker.get();
            }
        }
        return smallOps / ((System.nanoTime() - started) / 1e9);
    }

    /** One large artifact per daemon, uploaded at the same time, then downloaded at the same time. */
    private void measureBig(List<Daemon> daemons, String tenant, String token) throws Exception {
        List<String> paths = new ArrayList<>();
        for (int i = 0; i < daemons.size(); i++) {
            String build = "big-" + i;
            daemons.get(i).send("POST", "/v1/tenants/" + tenant + "/builds", token, "{\"build_id\":\"" + build + "\"}", 201);
            paths.add("/v1/tenants/" + tenant + "/builds/" + build + "/artifacts/image.ext4");
        }
        for (String method : List.of("PUT", "GET")) {
            long started = System.nanoTime();
            try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
                List<Future<?>> transfers = new ArrayList<>();
                for (int i = 0; i < daemons.size(); i++) {
                    // Downloads go to another daemon than the one that took the upload: any node serves any blob.
                    Daemon daemon = daemons.get(method.equals("PUT") ? i : (i + 1) % daemons.size());
                    String path = paths.get(i);
                    long seed = i;
                    transfers.add(pool.submit(() -> {
                        HttpRequest.Builder request = HttpRequest.newBuilder(daemon.base.resolve(path))
                                .header("Authorization", "Bearer " + token).timeout(Duration.ofMinutes(10));
                        if (method.equals("PUT")) {
                            request.PUT(HttpRequest.BodyPublishers.fromPublisher(HttpRequest.BodyPublishers.ofInputStream(
                                    () -> SeededBytes.stream(seed, bigBytes)), bigBytes));
                            HttpResponse<String> answer = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
                            if (answer.statusCode() != 201) {
                                throw new IllegalStateException("upload answered " + answer.statusCode() + ": " + answer.body());
                            }
                        } else {
                            HttpResponse<InputStream> answer = http.send(request.GET().build(), HttpResponse.BodyHandlers.ofInputStream());
                            try (InputStream body = answer.body()) {
                                long read = body.transferTo(java.io.OutputStream.nullOutputStream());
                                if (answer.statusCode() != 200 || read != bigBytes) {
                                    throw new IllegalStateException("download answered " + answer.statusCode() + " with " + read + " bytes");
                                }
                            }
                        }
                        return null;
                    }));
                }
                for (Future<?> transfer : transfers) {
                    transfer.get();
                }
            }
            double seconds = (System.nanoTime() - started) / 1e9;
            report(daemons.size() + " daemon(s): " + (bigBytes >> 20) + " MiB artifact " + method, "%,.0f MB/s aggregate (%d at once)"
                    .formatted(daemons.size() * bigBytes / seconds / 1e6, daemons.size()));
        }
    }

    /** Milliseconds per small artifact upload, one after the other, on one daemon with a filesystem backend. */
    private double ledgerCost(Map<String, String> metadata) throws Exception {
        Map<String, String> environment = new HashMap<>(metadata);
        environment.put("UNKEY_BUILDERD_STORAGE_BACKEND", "filesystem");
        String name = metadata.isEmpty() ? "sqlite" : "postgresql";
        try (Daemon daemon = Daemon.start(http, work.resolve("ledger-" + name), environment)) {
            String tenant = "ledger-" + name;
            String token = tenant(daemon, tenant);
            daemon.send("POST", "/v1/tenants/" + tenant + "/builds", token, "{\"build_id\":\"b\"}", 201);
            byte[] content = new byte[1024];
            for (int warm = 0; warm < 200; warm++) {
                daemon.send("PUT", "/v1/tenants/" + tenant + "/builds/b/artifacts/warm-" + warm, token, content, 201);
            }
            long started = System.nanoTime();
            for (int i = 0; i < ledgerOps; i++) {
                daemon.send("PUT", "/v1/tenants/" + tenant + "/builds/b/artifacts/a-" + i, token, content, 201);
            }
            double ms = (System.nanoTime() - started) / 1e6 / ledgerOps;
            report(name + " ledger", "%.2f ms per 1 KiB artifact upload (%d, one after the other)".formatted(ms, ledgerOps));
            return ms;
        }
    }

    /** A daemon process of this module's class path. */
    private static final class Daemon implements AutoCloseable {
        private final Process process;
        private final URI base;
        private final HttpClient http;

        private Daemon(Process process, URI base, HttpClient http) {
            this.process = process;
            this.base = base;
            this.http = http;
        }

        static Daemon start(HttpClient http, Path dataRoot, Map<String, String> environment) throws Exception {
            Files.createDirectories(dataRoot);
            int port;
            try (ServerSocket socket = new ServerSocket(0)) {
                port = socket.getLocalPort();
            }
            ProcessBuilder builder = new ProcessBuilder(ProcessHandle.current().info().command().orElse("java"),
                    "-Xmx1g", "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), Main.class.getName())
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(dataRoot.resolve("daemon.log").toFile()));
            builder.environment().keySet().removeIf(name -> name.startsWith("UNKEY_BUILDERD_"));
            builder.environment().putAll(environment);
            builder.environment().put("UNKEY_BUILDERD_DATA_DIR", dataRoot.toString());
            builder.environment().put("UNKEY_BUILDERD_ADMIN_TOKEN", ADMIN);
            builder.environment().put("UNKEY_BUILDERD_BIND_ADDRESS", "127.0.0.1");
            builder.environment().put("UNKEY_BUILDERD_PORT", Integer.toString(port));
            Daemon daemon = new Daemon(builder.start(), URI.create("http://127.0.0.1:" + port), http);
            long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            while (true) {
                try {
                    if (http.send(HttpRequest.newBuilder(daemon.base.resolve("/health/ready")).build(),
                            HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                        return daemon;
                    }
                } catch (IOException notYet) {
                    // not listening yet
                }
                if (!daemon.process.isAlive() || System.nanoTime() > deadline) {
                    daemon.close();
                    throw new IllegalStateException("the daemon did not become ready; see " + dataRoot.resolve("daemon.log"));
                }
                Thread.sleep(50);
            }
        }

        String send(String method, String path, String token, Object body, int... expected) throws IOException, InterruptedException {
            HttpRequest.BodyPublisher publisher = body == null ? HttpRequest.BodyPublishers.noBody()
                    : body instanceof byte[] bytes ? HttpRequest.BodyPublishers.ofByteArray(bytes)
                    : HttpRequest.BodyPublishers.ofString(body.toString());
            HttpResponse<String> answer = http.send(HttpRequest.newBuilder(base.resolve(path)).header("Authorization", "Bearer " + token)
                    .method(method, publisher).build(), HttpResponse.BodyHandlers.ofString());
            for (int status : expected) {
                if (answer.statusCode() == status) {
                    return answer.body();
                }
            }
            throw new IllegalStateException(method + " " + path + " answered " + answer.statusCode() + ": " + answer.body());
        }

        @Override
        public void close() {
            process.destroy();
            try {
                if (!process.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
