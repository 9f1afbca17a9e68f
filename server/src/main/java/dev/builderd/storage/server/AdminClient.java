package dev.builderd.storage.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.builderd.storage.blob.Pem;
import dev.builderd.storage.blob.StorageTls;
import dev.builderd.storage.server.config.ConfigException;
import dev.builderd.storage.server.config.ConfigParser;
import dev.builderd.storage.server.config.DaemonConfig;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import javax.net.ssl.SSLContext;
import picocli.CommandLine.Option;

/**
 * The admin API of a running daemon on this host, for the command-line tools (a picocli mixin):
 * its address and the admin token come from the daemon's own environment and
 * {@code config/admin.token}.
 */
final class AdminClient {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Map<String, String> environment;

    @Option(names = "--url", description = "the daemon's address (default: http://127.0.0.1:<UNKEY_BUILDERD_PORT>, https:// with"
            + " UNKEY_BUILDERD_TLS_CERT_FILE)")
    URI url;

    AdminClient() {
        this(System.getenv());
    }

    AdminClient(Map<String, String> environment) {
        this.environment = environment;
    }

    /** Sends one admin request and prints the JSON answer to {@code out}; returns the exit code. */
    int call(String method, String path, String body, PrintWriter out) throws IOException, InterruptedException {
        return print(send(method, path, body), out);
    }

    /** Prints an answer's JSON to {@code out}; returns the exit code. */
    int print(HttpResponse<String> response, PrintWriter out) {
        out.println(pretty(response.body()));
        out.flush();
        return response.statusCode() < 300 ? 0 : 1;
    }

    HttpResponse<String> send(String method, String path, String body) throws IOException, InterruptedException {
        DaemonConfig config;
        try {
            config = ConfigParser.parse(environment);
        } catch (ConfigException e) {
            throw new IOException(e.getMessage());
        }
        String scheme = config.transport().tls().isPresent() ? "https" : "http";
        URI base = url != null ? url : URI.create(scheme + "://127.0.0.1:" + config.port());
        HttpRequest request = HttpRequest.newBuilder(base.resolve(path))
                .timeout(Duration.ofMinutes(5))
                .header("Authorization", "Bearer " + AdminToken.existing(config))
                .header("Content-Type", "application/json")
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body))
                .build();
        HttpClient.Builder builder = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5));
        if ("https".equals(base.getScheme())) {
            builder.sslContext(sslContext(config.transport().cli()));
        }
        try (HttpClient client = builder.build()) {
            return client.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (java.net.ConnectException e) {
            throw new IOException("no daemon answers at " + base + " (start it, or pass --url)");
        } catch (javax.net.ssl.SSLException e) {
            throw new IOException("TLS with the daemon at " + base + " failed: " + e.getMessage() + " (see UNKEY_BUILDERD_CLI_TLS_*"
                    + " in docs/security-transport.md)", e);
        }
    }

    /**
     * Trusts {@code UNKEY_BUILDERD_CLI_TLS_CA_FILE}, else the daemon's own certificate chain, else
     * the platform's CAs; presents {@code UNKEY_BUILDERD_CLI_TLS_CERT_FILE} to a daemon that asks.
     */
    private static SSLContext sslContext(StorageTls tls) throws IOException {
        try {
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(tls.certFile().isPresent() ? Pem.keyManagers(tls.certFile().get(), tls.keyFile().orElseThrow()) : null,
                    tls.caFile().isPresent() ? Pem.trustManagers(tls.caFile().get()) : null, null);
            return context;
        } catch (IOException | java.security.GeneralSecurityException e) {
            throw new IOException("TLS towards the daemon: " + e.getMessage(), e);
        }
    }

    /**
     * Prints a background job's progress every second until it leaves the {@code running} state:
     * {@code job} picks the job out of the answer to {@code GET path}, {@code line} words it.
     * Returns 0 when it ended {@code finished}, else 1.
     */
    int awaitJob(String path, java.util.function.UnaryOperator<com.fasterxml.jackson.databind.JsonNode> job,
            java.util.function.Function<com.fasterxml.jackson.databind.JsonNode, String> line, PrintWriter out)
            throws IOException, InterruptedException {
        while (true) {
            com.fasterxml.jackson.databind.JsonNode state = job.apply(json(send("GET", path, null).body()));
            out.println(line.apply(state));
            out.flush();
            if (!"running".equals(state.path("state").asText())) {
                return "finished".equals(state.path("state").asText()) ? 0 : 1;
            }
            Thread.sleep(1000);
        }
    }

    static com.fasterxml.jackson.databind.JsonNode json(String body) throws IOException {
        return JSON.readTree(body);
    }

    private static String pretty(String body) {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(JSON.readTree(body));
        } catch (IOException notJson) {
            return body;
        }
    }
}
