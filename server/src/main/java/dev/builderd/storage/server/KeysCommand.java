package dev.builderd.storage.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code builderd keys ...}: the encryption key operations of a running daemon, through its admin
 * API on this host. The daemon's address and the admin token come from the same environment (and
 * {@code config/admin.token}) as the daemon's.
 */
@Command(name = "keys", mixinStandardHelpOptions = true,
        description = "Rotate tenant and master encryption keys and re-encrypt tenant data on a running daemon.",
        subcommands = {KeysCommand.Rotate.class, KeysCommand.Reencrypt.class, KeysCommand.RotateMaster.class,
                KeysCommand.Status.class})
final class KeysCommand {

    private static final ObjectMapper JSON = new ObjectMapper();

    private final java.util.Map<String, String> environment;

    KeysCommand() {
        this(System.getenv());
    }

    /** With {@code environment} in place of the process's (for tests). */
    KeysCommand(java.util.Map<String, String> environment) {
        this.environment = environment;
    }

    @Spec
    CommandSpec spec;

    @Option(names = "--url", description = "the daemon's address (default: http://127.0.0.1:<UNKEY_BUILDERD_PORT>)")
    URI url;

    /** Sends one admin request and prints the JSON answer; returns the exit code. */
    int call(String method, String path, String body) throws IOException, InterruptedException {
        HttpResponse<String> response = send(method, path, body);
        PrintWriter out = spec.commandLine().getOut();
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
        URI base = url != null ? url : URI.create("http://127.0.0.1:" + config.port());
        HttpRequest request = HttpRequest.newBuilder(base.resolve(path))
                .timeout(Duration.ofMinutes(5))
                .header("Authorization", "Bearer " + AdminToken.existing(config))
                .header("Content-Type", "application/json")
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body))
                .build();
        try (HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()) {
            return client.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (java.net.ConnectException e) {
            throw new IOException("no daemon answers at " + base + " (start it, or pass --url)");
        }
    }

    private static String pretty(String body) {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(JSON.readTree(body));
        } catch (IOException notJson) {
            return body;
        }
    }

    @Command(name = "rotate", mixinStandardHelpOptions = true,
            description = "Give a tenant a new primary data key; older data stays readable.")
    static final class Rotate implements Callable<Integer> {
        @ParentCommand
        KeysCommand keys;

        @Parameters(paramLabel = "TENANT")
        String tenant;

        @Option(names = "--reencrypt", description = "then rewrite older data with the new key and retire the older keys")
        boolean reencrypt;

        @Override
        public Integer call() throws Exception {
            return keys.call("POST", "/v1/tenants/" + tenant + "/encryption/rotate", "{\"reencrypt\":" + reencrypt + "}");
        }
    }

    @Command(name = "reencrypt", mixinStandardHelpOptions = true,
            description = "Rewrite a tenant's data under its primary key, then retire its older keys (a background job).")
    static final class Reencrypt implements Callable<Integer> {
        @ParentCommand
        KeysCommand keys;

        @Parameters(paramLabel = "TENANT")
        String tenant;

        @Option(names = "--wait", description = "print progress until the job ends")
        boolean await;

        @Override
        public Integer call() throws Exception {
            int started = keys.call("POST", "/v1/tenants/" + tenant + "/encryption/reencrypt", null);
            if (started != 0 || !await) {
                return started;
            }
            PrintWriter out = keys.spec.commandLine().getOut();
            while (true) {
                JsonNode job = JSON.readTree(keys.send("GET", "/v1/tenants/" + tenant, null).body())
                        .path("encryption_status").path("reencryption");
                out.printf("%s: %d of %d blobs, %d rewritten (%d bytes)%n", job.path("state").asText(), job.path("blobs_done").asLong(),
                        job.path("blobs_total").asLong(), job.path("blobs_rewritten").asLong(), job.path("bytes_rewritten").asLong());
                out.flush();
                if (!"running".equals(job.path("state").asText())) {
                    return "finished".equals(job.path("state").asText()) ? 0 : 1;
                }
                Thread.sleep(1000);
            }
        }
    }

    @Command(name = "rotate-master", mixinStandardHelpOptions = true,
            description = "Rotate the master key and rewrap every tenant keyset (crash-safe: every keyset stays readable).")
    static final class RotateMaster implements Callable<Integer> {
        @ParentCommand
        KeysCommand keys;

        @Override
        public Integer call() throws Exception {
            return keys.call("POST", "/v1/admin/master-key/rotate", null);
        }
    }

    @Command(name = "status", mixinStandardHelpOptions = true, description = "Show a tenant's encryption status.")
    static final class Status implements Callable<Integer> {
        @ParentCommand
        KeysCommand keys;

        @Parameters(paramLabel = "TENANT")
        String tenant;

        @Override
        public Integer call() throws Exception {
            return keys.call("GET", "/v1/tenants/" + tenant, null);
        }
    }
}
