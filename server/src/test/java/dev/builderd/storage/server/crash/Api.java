package dev.builderd.storage.server.crash;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;

/** The daemon's HTTP API as the harness speaks it: the admin token on every request. */
final class Api {

    private static final ObjectMapper JSON = new ObjectMapper();
    /** Bounds a request to a daemon that hangs, so that a hang fails the run instead of stalling it. */
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(60);

    /** An answer received whole. */
    record Reply(int status, byte[] body, java.net.http.HttpHeaders headers) {
        boolean ok() {
            return status / 100 == 2;
        }

        JsonNode json() throws IOException {
            return JSON.readTree(body);
        }

        String text() {
            return new String(body, java.nio.charset.StandardCharsets.UTF_8);
        }
    }

    private final HttpClient http;
    private final URI base;
    private final String token;

    Api(HttpClient http, URI base, String token) {
        this.http = http;
        this.base = base;
        this.token = token;
    }

    URI base() {
        return base;
    }

    Reply send(String method, String path, HttpRequest.BodyPublisher body, Map<String, String> headers)
            throws IOException, InterruptedException {
        HttpRequest.Builder request = HttpRequest.newBuilder(base.resolve(path)).timeout(REQUEST_TIMEOUT)
                .header("Authorization", "Bearer " + token).method(method, body);
        headers.forEach(request::header);
        HttpResponse<byte[]> response = http.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
        return new Reply(response.statusCode(), response.body(), response.headers());
    }

    Reply get(String path) throws IOException, InterruptedException {
        return send("GET", path, HttpRequest.BodyPublishers.noBody(), Map.of());
    }

    Reply send(String method, String path, String json) throws IOException, InterruptedException {
        return send(method, path, HttpRequest.BodyPublishers.ofString(json), Map.of("Content-Type", "application/json"));
    }

    /** A GET that must succeed, as JSON. */
    JsonNode json(String path) throws IOException, InterruptedException {
        Reply reply = get(path);
        if (!reply.ok()) {
            throw new IllegalStateException("GET " + path + " answered " + reply.status() + ": " + reply.text());
        }
        return reply.json();
    }
}
