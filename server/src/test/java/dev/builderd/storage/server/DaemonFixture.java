package dev.builderd.storage.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.builderd.storage.server.config.ConfigParser;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One real daemon on 127.0.0.1, port 0, and an HTTP client speaking to it: started from the same
 * environment map as production, restartable on the same data root and metadata store.
 */
final class DaemonFixture implements AutoCloseable {

    static final String ADMIN_TOKEN = "admin-token-for-http-tests-0123456789";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A response, body fully read. */
    record Response(int status, HttpHeaders headers, byte[] body) {
        String text() {
            return new String(body, StandardCharsets.UTF_8);
        }

        JsonNode json() {
            try {
                return JSON.readTree(body);
            } catch (IOException e) {
                throw new AssertionError("not JSON (status " + status + "): " + text(), e);
            }
        }

        Optional<String> header(String name) {
            return headers.firstValue(name);
        }

        @Override
        public String toString() {
            return status + " " + text();
        }
    }

    private final Map<String, String> env;
    /** What the client trusts when the daemon serves HTTPS; null: plain HTTP. */
    private final javax.net.ssl.SSLContext tls;
    private final HttpClient client;
    private Daemon daemon;

    private DaemonFixture(Map<String, String> env, javax.net.ssl.SSLContext tls) {
        this.env = env;
        this.tls = tls;
        HttpClient.Builder builder = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10));
        this.client = (tls == null ? builder : builder.sslContext(tls)).build();
    }

    /** Starts a daemon on {@code dataRoot} with {@code metadataUrl} (empty: SQLite under the data root) and {@code extra} variables. */
    static DaemonFixture start(Path dataRoot, Optional<String> metadataUrl, Map<String, String> extra) {
        return start(dataRoot, metadataUrl, extra, null);
    }

    /**
     * Like {@link #start(Path, Optional, Map)}, for a daemon that {@code extra} sets up to serve
     * HTTPS; every request of this fixture then goes over TLS, trusting {@code tls}.
     */
    static DaemonFixture start(Path dataRoot, Optional<String> metadataUrl, Map<String, String> extra, javax.net.ssl.SSLContext tls) {
        Map<String, String> env = new HashMap<>();
        env.put("UNKEY_BUILDERD_PORT", "0");
        env.put("UNKEY_BUILDERD_BIND_ADDRESS", "127.0.0.1");
        env.put("UNKEY_BUILDERD_DATA_DIR", dataRoot.toString());
        env.put("UNKEY_BUILDERD_ADMIN_TOKEN", ADMIN_TOKEN);
        metadataUrl.ifPresent(url -> env.put("UNKEY_BUILDERD_METADATA_URL", url));
        env.putAll(extra);
        DaemonFixture fixture = new DaemonFixture(Map.copyOf(env), tls);
        fixture.startDaemon();
        return fixture;
    }

    private void startDaemon() {
        try {
            daemon = Daemon.start(ConfigParser.parse(env));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Stops the daemon and starts a new one on the same data root and metadata store. */
    void restart() {
        stopDaemon();
        startDaemon();
    }

    /** Stops the daemon and starts one with the same environment plus {@code extra}. */
    DaemonFixture restartWith(Map<String, String> extra) {
        stopDaemon();
        Map<String, String> changed = new HashMap<>(env);
        changed.putAll(extra);
        DaemonFixture fixture = new DaemonFixture(Map.copyOf(changed), tls);
        fixture.startDaemon();
        return fixture;
    }

    int port() {
        return daemon.port();
    }

    /** The names of the metrics the running daemon has registered, as a scrape shows them (counters with _total). */
    java.util.Set<String> metricNames() {
        java.util.Set<String> names = new java.util.TreeSet<>();
        for (var snapshot : daemon.storage().metrics().scrape()) {
            String name = snapshot.getMetadata().getPrometheusName();
            switch (snapshot) {
                case io.prometheus.metrics.model.snapshots.CounterSnapshot ignored -> names.add(name + "_total");
                case io.prometheus.metrics.model.snapshots.HistogramSnapshot ignored ->
                        java.util.List.of("_bucket", "_sum", "_count").forEach(suffix -> names.add(name + suffix));
                default -> names.add(name);
            }
        }
        return names;
    }

    URI uri(String rawPath) {
        return URI.create((tls == null ? "http" : "https") + "://127.0.0.1:" + port() + rawPath);
    }

    /** Sends a request; {@code token} null sends no Authorization header; {@code headers} are name/value pairs. */
    Response send(String method, String rawPath, String token, HttpRequest.BodyPublisher body, String... headers) {
        HttpRequest.Builder request = HttpRequest.newBuilder(uri(rawPath)).timeout(Duration.ofMinutes(2))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : body);
        if (token != null) {
            request.header("Authorization", "Bearer " + token);
        }
        for (int i = 0; i < headers.length; i += 2) {
            request.header(headers[i], headers[i + 1]);
        }
        try {
            HttpResponse<byte[]> response = client.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
            return new Response(response.statusCode(), response.headers(), response.body());
        } catch (IOException e) {
            throw new UncheckedIOException(method + " " + rawPath + " failed", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** A streamed response, for bodies too large to hold; the caller closes the stream. */
    HttpResponse<InputStream> stream(String rawPath, String token) {
        HttpRequest request = HttpRequest.newBuilder(uri(rawPath)).timeout(Duration.ofMinutes(2))
                .header("Authorization", "Bearer " + token).GET().build();
        try {
            return client.send(request, HttpResponse.BodyHandlers.ofInputStream());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /**
     * Speaks raw HTTP/1.1 over a socket: writes {@code head} (request line and headers, without
     * the blank line) and {@code body}, then either half-closes (and returns what the daemon
     * answered) or drops the connection at once (and returns null).
     */
    String raw(String head, byte[] body, boolean dropWithoutReading) {
        try (Socket socket = connect(head)) {
            OutputStream out = socket.getOutputStream();
            out.write(body);
            out.flush();
            if (dropWithoutReading) {
                socket.setSoLinger(true, 0);
                return null;
            }
            socket.shutdownOutput();
            ByteArrayOutputStream answer = new ByteArrayOutputStream();
            socket.getInputStream().transferTo(answer);
            return answer.toString(StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Opens a connection and writes {@code head} (request line and headers, without the blank line) and the blank line. */
    Socket connect(String head) throws IOException {
        Socket socket = tls == null ? new Socket("127.0.0.1", port()) : tls.getSocketFactory().createSocket("127.0.0.1", port());
        socket.setSoTimeout(60_000);
        socket.getOutputStream().write((head + "\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                .getBytes(StandardCharsets.ISO_8859_1));
        return socket;
    }

    /**
     * One request on its own connection ({@code Connection: close}), parsed by hand: for requests
     * Jetty itself refuses, after which it closes the connection (a pooled client connection
     * could be reused after that and fail).
     */
    Response sendOnce(String method, String rawPath, String token, String body) {
        byte[] content = body == null ? new byte[0] : body.getBytes(StandardCharsets.UTF_8);
        String head = method + " " + rawPath + " HTTP/1.1\r\nContent-Length: " + content.length
                + (token == null ? "" : "\r\nAuthorization: Bearer " + token);
        String answer = raw(head, content, false);
        int end = answer.indexOf("\r\n\r\n");
        if (end < 0) {
            throw new AssertionError(method + " " + rawPath + ": no complete response: " + answer);
        }
        String[] lines = answer.substring(0, end).split("\r\n");
        Map<String, List<String>> headers = new HashMap<>();
        for (int i = 1; i < lines.length; i++) {
            int colon = lines[i].indexOf(':');
            headers.computeIfAbsent(lines[i].substring(0, colon).strip(), k -> new ArrayList<>())
                    .add(lines[i].substring(colon + 1).strip());
        }
        HttpHeaders parsed = HttpHeaders.of(headers, (name, value) -> true);
        String rest = answer.substring(end + 4);
        if (parsed.firstValue("Transfer-Encoding").filter("chunked"::equalsIgnoreCase).isPresent()) {
            StringBuilder decoded = new StringBuilder();
            int at = 0;
            while (true) {
                int lineEnd = rest.indexOf("\r\n", at);
                int size = Integer.parseInt(rest.substring(at, lineEnd).strip(), 16);
                if (size == 0) {
                    break;
                }
                decoded.append(rest, lineEnd + 2, lineEnd + 2 + size);
                at = lineEnd + 2 + size + 2;
            }
            rest = decoded.toString();
        }
        return new Response(Integer.parseInt(lines[0].split(" ")[1]), parsed, rest.getBytes(StandardCharsets.ISO_8859_1));
    }

    static String json(Object value) {
        try {
            return JSON.writeValueAsString(value);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void stopDaemon() {
        if (daemon != null) {
            daemon.close();
            daemon = null;
        }
    }

    @Override
    public void close() {
        stopDaemon();
    }
}
