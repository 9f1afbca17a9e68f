package dev.builderd.storage.server.crash;

import static org.awaitility.Awaitility.await;

import dev.builderd.storage.server.Main;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The daemon in a process of its own ({@code java -cp <the tests' class path> Main}), so that it
 * can be killed with SIGKILL: no shutdown hook, no finally block, no flush runs. Its output is
 * appended to one log file across restarts.
 */
final class DaemonProcess implements AutoCloseable {

    private static final Duration READY_DEADLINE = Duration.ofSeconds(90);

    private final Process process;
    private final Api api;

    private DaemonProcess(Process process, Api api) {
        this.process = process;
        this.api = api;
    }

    /**
     * Starts a daemon over {@code dataRoot} with the given variables (besides data root, admin
     * token, address and port) and returns once {@code /health/ready} answers 200.
     */
    static DaemonProcess start(HttpClient http, Path dataRoot, String adminToken, Map<String, String> environment, Path log)
            throws IOException {
        int port;
        try (ServerSocket socket = new ServerSocket(0)) {
            port = socket.getLocalPort();
        }
        List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                // A short-lived daemon: C1 only and the class-data archive start it in about a second.
                "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-Xmx512m", "--enable-native-access=ALL-UNNAMED",
                // The tests' logback-test.xml would win on this class path; the daemon logs as in production.
                "-Dlogback.configurationFile=logback.xml",
                "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        builder.environment().keySet().removeIf(name -> name.startsWith("UNKEY_BUILDERD_"));
        builder.environment().putAll(environment);
        builder.environment().put("UNKEY_BUILDERD_DATA_DIR", dataRoot.toString());
        builder.environment().put("UNKEY_BUILDERD_ADMIN_TOKEN", adminToken);
        builder.environment().put("UNKEY_BUILDERD_BIND_ADDRESS", "127.0.0.1");
        builder.environment().put("UNKEY_BUILDERD_PORT", Integer.toString(port));
        Process process = builder.start();
        DaemonProcess daemon = new DaemonProcess(process, new Api(http, URI.create("http://127.0.0.1:" + port), adminToken));
        try {
            await().atMost(READY_DEADLINE).pollInterval(Duration.ofMillis(50)).ignoreExceptions()
                    .failFast("the daemon exited", () -> !process.isAlive())
                    .until(() -> http.send(HttpRequest.newBuilder(daemon.api.base().resolve("/health/ready")).build(),
                            HttpResponse.BodyHandlers.discarding()).statusCode() == 200);
        } catch (RuntimeException | Error e) {
            daemon.close();
            throw new IllegalStateException("the daemon (pid " + process.pid() + ") did not become ready; its log "
                    + log + " ends with:\n" + tail(log), e);
        }
        return daemon;
    }

    Api api() {
        return api;
    }

    long pid() {
        return process.pid();
    }

    /** SIGKILL, and waits until the process is gone (its port and files released). */
    void kill() throws InterruptedException {
        process.destroyForcibly();
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            throw new IllegalStateException("daemon pid " + process.pid() + " survived SIGKILL for 30 s");
        }
    }

    @Override
    public void close() {
        if (process.isAlive()) {
            try {
                kill();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    static String tail(Path log) {
        try {
            List<String> lines = Files.readAllLines(log);
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
        } catch (IOException e) {
            return "(unreadable: " + e + ")";
        }
    }
}
