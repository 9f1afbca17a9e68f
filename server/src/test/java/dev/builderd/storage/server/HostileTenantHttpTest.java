package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.builderd.storage.server.DaemonFixture.Response;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Tenant "mallory", with a token of her own and a build of her own, attacks tenant "victim"
 * through the live API: path traversal and encoding tricks in every path parameter of every
 * route, hostile JSON values, links planted in her build's directories, and her own quota. For
 * every attack the answer is a 4xx (never a 5xx, never a 2xx), and afterwards the victim's tree
 * and every file outside mallory's tree are byte-identical, the victim's data still reads back,
 * and the daemon is alive.
 *
 * <p>Path safety does not depend on the metadata store, so this runs on SQLite only.
 */
@ParameterizedClass
@EnumSource(value = MetadataKind.class, names = "SQLITE")
class HostileTenantHttpTest extends HttpApiTestBase {

    static final String SHA_A = "sha256:" + "a".repeat(64);
    /**
     * Path segments that must never name anything but a refusal: dot segments raw, percent-encoded,
     * double-encoded and as overlong UTF-8; encoded separators and backslashes; NUL; absolute paths;
     * matrix parameters; empty segments; lookalike dots; malformed escapes; raw high bytes; and a
     * name far past every length limit.
     */
    static final List<String> SEGMENT_ATTACKS = List.of(
            "..", ".", "%2e%2e", "%2E%2e", ".%2e", "%2e.", "%2e", "%252e%252e", "%25252e%25252e",
            "%c0%ae%c0%ae", "%e0%80%ae%e0%80%ae", "%c0%2e%c0%2e", "\u00c0\u00ae\u00c0\u00ae",
            "..%2fvictim", "..%2f..%2f..%2fvictim", "..%252f..%252fvictim", "%2e%2e%2f%2e%2e%2fvictim",
            "..%5c..%5cvictim", "%5c..%5cvictim", "..%5c/victim", "..%2f%5cvictim",
            "%00", "a%00", "%00..", "own.bin%00.txt",
            "%2fetc%2fpasswd", "%2f%2fetc%2fpasswd", "%2f", "%2f%2f", "..;", "..;x=y", ";..", "%3b..",
            "%ef%bc%8e%ef%bc%8e", "%e2%80%a4%e2%80%a4", "%e2%80%a5", "%ef%b9%92%ef%b9%92", "%e2%88%95etc",
            "%", "%zz", "%c0", "%ff%fe", "%ed%a0%80", "x".repeat(3000), "y".repeat(300), "%c3%a9".repeat(200),
            "....", ".../...", "..%20", "%20..", "..%09", "%0a..", "~", "~victim");
    /** Whole-path tails that climb out of the route and into the victim's tree. */
    static final List<String> CLIMBS = List.of(
            "../../../../../../victim/builds/v1/artifacts/secret.bin",
            "..%2f..%2f..%2f..%2f..%2f..%2fvictim%2fbuilds%2fv1%2fartifacts%2fsecret.bin",
            "%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/victim/builds/v1/artifacts/secret.bin",
            "%252e%252e/%252e%252e/%252e%252e/%252e%252e/victim/builds/v1/artifacts/secret.bin",
            "..\\..\\..\\..\\victim\\builds\\v1\\artifacts\\secret.bin",
            "..;/..;/..;/..;/..;/..;/victim/builds/v1/artifacts/secret.bin",
            "/v1/tenants/victim/builds/v1/artifacts/secret.bin",
            "//v1/tenants/victim/builds/v1/artifacts/secret.bin",
            "%2fv1%2ftenants%2fvictim%2fbuilds%2fv1%2fartifacts%2fsecret.bin");

    /** One route: a method, a path template with {T}, {B}, {N} (or {K} for a slash-separated key), and a body. */
    record Route(String method, String template, String body) {
        List<String> slots() {
            return List.of("{T}", "{B}", "{N}", "{K}", "{D}").stream().filter(template::contains).toList();
        }
    }

    /** Every route with a path parameter, filled with mallory's own valid values. */
    static final List<Route> ROUTES = List.of(
            new Route("GET", "/v1/tenants/{T}", null),
            new Route("PUT", "/v1/tenants/{T}", "{\"tier\":\"dedicated\"}"),
            new Route("DELETE", "/v1/tenants/{T}", null),
            new Route("GET", "/v1/tenants/{T}/usage", null),
            new Route("POST", "/v1/tenants/{T}/tokens", null),
            new Route("DELETE", "/v1/tenants/{T}/tokens/{N}", null),
            new Route("POST", "/v1/tenants/{T}/builds", "{}"),
            new Route("GET", "/v1/tenants/{T}/builds", null),
            new Route("GET", "/v1/tenants/{T}/builds/{B}", null),
            new Route("GET", "/v1/tenants/{T}/builds/{B}/paths", null),
            new Route("DELETE", "/v1/tenants/{T}/builds/{B}", null),
            new Route("POST", "/v1/tenants/{T}/builds/{B}/heartbeat", "{}"),
            new Route("POST", "/v1/tenants/{T}/builds/{B}/complete", "{\"status\":\"failed\"}"),
            new Route("GET", "/v1/tenants/{T}/builds/{B}/artifacts", null),
            new Route("GET", "/v1/tenants/{T}/builds/{B}/checksums.sha256", null),
            new Route("PUT", "/v1/tenants/{T}/builds/{B}/artifacts/{N}", "mallory's bytes"),
            new Route("GET", "/v1/tenants/{T}/builds/{B}/artifacts/{N}", null),
            new Route("DELETE", "/v1/tenants/{T}/builds/{B}/artifacts/{N}", null),
            new Route("POST", "/v1/tenants/{T}/builds/{B}/artifacts/{N}/gzip", null),
            new Route("POST", "/v1/tenants/{T}/builds/{B}/artifacts/{N}/import", "{\"from\":\"temp/none.bin\"}"),
            new Route("GET", "/v1/tenants/{T}/builds/{B}/logs", null),
            new Route("PUT", "/v1/tenants/{T}/builds/{B}/logs/{N}", "mallory's log"),
            new Route("GET", "/v1/tenants/{T}/builds/{B}/logs/{N}", null),
            new Route("POST", "/v1/tenants/{T}/builds/{B}/cache-pins", "{\"type\":\"dependencies\",\"keys\":[\"npm/x\"]}"),
            new Route("PUT", "/v1/tenants/{T}/cache/dependencies/{K}", "mallory's entry"),
            new Route("GET", "/v1/tenants/{T}/cache/dependencies/{K}", null),
            new Route("DELETE", "/v1/tenants/{T}/cache/dependencies/{K}", null),
            new Route("PUT", "/v1/tenants/{T}/cache/git-repos/{K}", "mallory's entry"),
            new Route("GET", "/v1/tenants/{T}/cache/git-repos/{K}", null),
            new Route("GET", "/v1/tenants/{T}/cache/{D}/" + SHA_A.substring(0, 20), null),
            new Route("GET", "/v1/tenants/{T}/cache-policies", null),
            new Route("PUT", "/v1/tenants/{T}/cache-policies/{D}", "{}"),
            new Route("POST", "/v1/tenants/{T}/cache-warming", "{}"),
            new Route("GET", "/v1/tenants/{T}/cache-warming/{N}", null),
            new Route("GET", "/v1/tenants/{T}/retention-policy", null),
            new Route("PUT", "/v1/tenants/{T}/retention-policy", "{}"),
            new Route("GET", "/v1/tenants/{T}/retention-policy/dry-run", null),
            new Route("POST", "/v1/tenants/{T}/retention-policy/run", null),
            new Route("POST", "/v1/tenants/{T}/encryption/rotate", "{}"),
            new Route("PUT", "/v1/global/registry-cache/{N}", "layer"),
            new Route("GET", "/v1/global/registry-cache/{N}", null),
            new Route("GET", "/cache/bazel/{T}/ac/{K}", null),
            new Route("PUT", "/cache/bazel/{T}/cas/{K}", "blob"),
            new Route("GET", "/cache/gradle/{T}/{N}", null),
            new Route("PUT", "/cache/gradle/{T}/{N}", "entry"),
            new Route("GET", "/cache/ccache/{T}/{K}", null),
            new Route("DELETE", "/cache/ccache/{T}/{K}", null),
            new Route("GET", "/cache/turbo/{T}/v8/artifacts/{N}", null),
            new Route("PUT", "/cache/turbo/{T}/v8/artifacts/{N}", "entry"));

    @TempDir
    Path outside;

    String victimToken;
    String malloryToken;
    JsonNode malloryBuild;
    JsonNode victimBuild;
    final byte[] secret = bytes(7, 64 * 1024);

    @BeforeEach
    void twoTenants() throws IOException {
        victimToken = tenant("victim", "pro");
        malloryToken = tenant("mallory", "free");
        // Out of the fairness limits' way: each attack must be judged by the route, not refused as one request too many.
        assertThat(put("/v1/tenants/mallory", ADMIN, "{\"tier\":\"free\",\"limits\":{\"requests_per_second\":1000000,"
                + "\"concurrent_requests\":1000}}").status()).isEqualTo(200);
        victimBuild = build("victim", victimToken, "v1");
        malloryBuild = build("mallory", malloryToken, "m1");
        assertThat(upload("victim", victimToken, "v1", "secret.bin", secret).status()).isEqualTo(201);
        assertThat(put(buildPath("victim", "v1") + "/logs/build.log", victimToken, secret).status()).isEqualTo(201);
        assertThat(put("/v1/tenants/victim/cache/dependencies/npm/secret-1.0.tgz", victimToken, secret).status()).isEqualTo(201);
        assertThat(put("/v1/tenants/victim/cache/git-repos/github.com/victim/repo.git", victimToken, secret).status()).isEqualTo(201);
        assertThat(put("/v1/tenants/victim/cache/docker-layers/sha256:" + sha256(secret), victimToken, secret).status())
                .isEqualTo(201);
        Files.write(path(victimBuild, "workspace").resolve("notes.txt"), secret);
        Files.write(path(victimBuild, "temp").resolve("secret.bin"), secret);
        Files.write(outside.resolve("precious.txt"), secret);
    }

    /**
     * Every attack payload in every path parameter of every route. A payload that decodes to a
     * traversal, a separator, a NUL or a malformed escape is refused with a 4xx; one that decodes
     * to a harmless literal name in mallory's own space (say {@code %252e%252e}, which is the name
     * {@code %2e%2e} and not a dot segment) may be served as such; a bare {@code .} or {@code ..}
     * is a dot segment the server removes as RFC 3986 says, landing on another of mallory's own
     * routes. No answer is a 5xx or carries the victim's bytes, and nothing outside mallory's tree
     * changes.
     */
    @Test
    void pathAttacksInEveryParameterOfEveryRouteAreRefused() {
        SortedMap<String, String> before = snapshotOutsideMallory();
        List<String> failures = new ArrayList<>();
        int sent = 0;
        int literal = 0;
        for (Route route : ROUTES) {
            for (String slot : route.slots()) {
                List<String> payloads = new ArrayList<>(SEGMENT_ATTACKS);
                payloads.addAll(CLIMBS);
                if (slot.equals("{K}")) {
                    SEGMENT_ATTACKS.forEach(attack -> payloads.add("npm/" + attack + "/victim"));
                }
                for (String payload : payloads) {
                    String path = fill(route.template(), slot, payload);
                    Response response = daemon.sendOnce(route.method(), path, malloryToken, route.body());
                    sent++;
                    boolean refused = response.status() >= 400 && response.status() < 500;
                    boolean harmless = payload.equals(".") || payload.equals("..") || isLiteralName(payload, slot.equals("{K}"));
                    literal += refused ? 0 : 1;
                    if (response.status() >= 500 || response.status() == 429 || (!refused && !harmless) || carriesSecret(response)) {
                        failures.add(route.method() + " " + printable(path) + " -> " + response.status() + " "
                                + printable(response.text()));
                    }
                }
            }
        }
        System.out.printf("%d path attacks sent, %d refused, %d served as literal names in mallory's own space%n",
                sent, sent - literal, literal);
        assertThat(failures).as("of %d attacks", sent).isEmpty();
        assertVictimUntouched(before);
    }

    /**
     * Whether {@code payload}, percent-decoded once as a server does, is a plain name (a relative
     * path for keys): no empty, {@code .} or {@code ..} segment, backslash or control character.
     * Segments such as {@code ;..} or {@code " .."} are names, not dot segments.
     */
    static boolean isLiteralName(String payload, boolean slashesAllowed) {
        String decoded;
        try {
            decoded = java.net.URLDecoder.decode(payload.replace("+", "%2b"), java.nio.charset.StandardCharsets.UTF_8);
        } catch (IllegalArgumentException malformed) {
            return false;
        }
        return !decoded.isEmpty() && payload.chars().allMatch(c -> c > 0x20 && c < 0x7f) && !decoded.contains("\\")
                && decoded.chars().noneMatch(Character::isISOControl) && (slashesAllowed || !decoded.contains("/"))
                && java.util.Arrays.stream(decoded.split("/", -1)).noneMatch(segment -> List.of("", ".", "..").contains(segment));
    }

    private boolean carriesSecret(Response response) {
        byte[] probe = java.util.Arrays.copyOfRange(secret, 1000, 1032);
        String body = new String(response.body(), java.nio.charset.StandardCharsets.ISO_8859_1);
        return response.text().contains(sha256(secret))
                || body.contains(new String(probe, java.nio.charset.StandardCharsets.ISO_8859_1));
    }

    /** The victim's own names, tried through every route with mallory's token: never hers to read, change or list. */
    @Test
    void malloryCannotReachTheVictimsOwnNames() {
        SortedMap<String, String> before = snapshotOutsideMallory();
        List<String> failures = new ArrayList<>();
        for (Route route : ROUTES) {
            String path = route.template().replace("{T}", "victim").replace("{B}", "v1").replace("{N}", "secret.bin")
                    .replace("{K}", "npm/secret-1.0.tgz").replace("{D}", "docker-layers");
            Response response = daemon.sendOnce(route.method(), path, malloryToken, route.body());
            if (response.status() != 403 && response.status() != 404 && response.status() != 400) {
                failures.add(route.method() + " " + path + " -> " + response);
            }
        }
        assertThat(failures).isEmpty();
        assertVictimUntouched(before);
    }

    /** Values in JSON bodies: build IDs, import sources, pinned cache keys and the build named in a cache read. */
    @Test
    void hostileJsonValuesAreRefused() {
        SortedMap<String, String> before = snapshotOutsideMallory();
        String m1 = buildPath("mallory", "m1");
        List<String> froms = List.of("../../../../victim/builds/v1/temp/secret.bin", "temp/../../../../victim/builds/v1/temp/secret.bin",
                "/etc/passwd", "temp//secret.bin", "temp/./x", "temp\\\\..\\\\x", "temp/\\u0000x", "temp/\\ud800", "temp/a\\udc00b",
                "rootfs/secret.bin", "metadata/x", "logs/x", "temp", "temp/", "", "workspace/" + "x/".repeat(500) + "y",
                "temp/" + "z".repeat(300), "temp/" + "\u00e9".repeat(200),
                dataRoot.resolve("tenants/victim/builds/v1/temp/secret.bin").toString());
        List<String> failures = new ArrayList<>();
        for (String from : froms) {
            expect4xx(failures, "POST", m1 + "/artifacts/stolen.bin/import", "{\"from\":\"" + from + "\"}");
        }
        expect4xx(failures, "POST", m1 + "/artifacts/stolen.bin/import", "{\"from\":null}");
        expect4xx(failures, "POST", m1 + "/artifacts/stolen.bin/import", "{\"from\":[\"temp/x\"]}");
        for (String key : List.of("npm/../../victim", "npm/\\ud800", "npm/" + "z".repeat(300), "../victim", "/etc/passwd", "npm\\\\..\\\\x", "npm/.hidden")) {
            expect4xx(failures, "POST", m1 + "/cache-pins", "{\"type\":\"dependencies\",\"keys\":[\"" + key + "\"]}");
        }
        for (String id : List.of("../victim", "v1/../../x", "\\ud800", "VICTIM", "a".repeat(64), "-x", "x\\u0000")) {
            expect4xx(failures, "POST", "/v1/tenants/mallory/builds", "{\"build_id\":\"" + id + "\"}");
            expect4xx(failures, "POST", "/v1/tenants/mallory/cache-warming", "{\"from_tenant\":\"" + id + "\"}");
        }
        expect4xx(failures, "POST", "/v1/tenants/mallory/cache-warming", "{\"from_tenant\":\"victim\"}");
        for (String build : List.of("v1", "../victim", "%2e%2e")) {
            Response response = get("/v1/tenants/mallory/cache/dependencies/npm/x", malloryToken, "X-Builderd-Build", build);
            if (response.status() < 400 || response.status() >= 500) {
                failures.add("X-Builderd-Build " + build + " -> " + response);
            }
        }
        assertThat(failures).isEmpty();
        assertVictimUntouched(before);
    }

    /**
     * Links and hard links planted in mallory's workspace and temp, pointing at the victim's files
     * and directories and at {@code /etc/passwd}, imported as artifacts: every import is refused,
     * and nothing of the victim's or outside moves or changes.
     */
    @Test
    void plantedLinksAreNeverImported() throws IOException {
        Path temp = path(malloryBuild, "temp");
        Path workspace = path(malloryBuild, "workspace");
        Path victimArtifact = dataRoot.resolve("tenants/victim/builds/v1/rootfs/secret.bin");
        Files.createSymbolicLink(temp.resolve("to-victim-artifact"), victimArtifact);
        Files.createSymbolicLink(temp.resolve("to-victim-temp"), path(victimBuild, "temp"));
        Files.createSymbolicLink(temp.resolve("to-victim-tenant"), dataRoot.resolve("tenants/victim"));
        Files.createSymbolicLink(temp.resolve("to-etc-passwd"), Path.of("/etc/passwd"));
        Files.createSymbolicLink(workspace.resolve("to-root"), Path.of("/"));
        Files.createSymbolicLink(workspace.resolve("relative"), Path.of("../../../../victim/builds/v1/temp/secret.bin"));
        Files.createLink(temp.resolve("hard-victim"), path(victimBuild, "temp").resolve("secret.bin"));
        Files.createLink(workspace.resolve("hard-outside"), outside.resolve("precious.txt"));
        SortedMap<String, String> before = snapshotOutsideMallory();
        List<String> failures = new ArrayList<>();
        for (String from : List.of("temp/to-victim-artifact", "temp/to-victim-temp/secret.bin", "temp/to-victim-tenant/builds/v1/temp/secret.bin",
                "temp/to-etc-passwd", "workspace/to-root/etc/passwd", "workspace/relative", "temp/hard-victim", "workspace/hard-outside")) {
            expect4xx(failures, "POST", buildPath("mallory", "m1") + "/artifacts/stolen.bin/import", "{\"from\":\"" + from + "\"}");
        }
        assertThat(failures).isEmpty();
        assertThat(get(artifactPath("mallory", "m1", "stolen.bin"), malloryToken).status()).isEqualTo(404);
        assertVictimUntouched(before);
    }

    /** Mallory fills her own quota to the brim: the victim's usage and its room to write do not move. */
    @Test
    void malloryExhaustsOnlyHerOwnQuota() {
        assertThat(put("/v1/tenants/mallory", ADMIN, "{\"tier\":\"free\",\"limits\":{\"total_bytes\":262144,\"artifact_bytes\":262144,"
                + "\"cache_bytes\":262144}}").status()).isEqualTo(200);
        JsonNode victimBefore = get("/v1/tenants/victim/usage", victimToken).json();
        SortedMap<String, String> before = snapshotOutsideMallory();
        int refused = 0;
        for (int i = 0; i < 12 && refused == 0; i++) {
            Response response = upload("mallory", malloryToken, "m1", "fill-" + i + ".bin", bytes(100 + i, 64 * 1024));
            refused = response.status() == 507 ? 1 : 0;
            assertThat(response.status()).as("%s", response).isIn(201, 507);
        }
        assertThat(refused).as("mallory reached her hard limit").isEqualTo(1);
        assertThat(put("/v1/tenants/mallory/cache/dependencies/npm/huge.tgz", malloryToken, bytes(9, 300 * 1024)).status()).isEqualTo(507);
        // Refused before a byte of it is read, by a client that writes the whole body before it reads
        // (more than the sockets' buffers hold): it must still hear the answer, not a reset.
        Response whole = daemon.sendOnce("PUT", artifactPath("mallory", "m1", "whole.bin"), malloryToken, "x".repeat(6 << 20));
        assertProblem(whole, 507, "quota");
        // One that asks first (Expect: 100-continue) hears the refusal without being asked to send.
        try (java.net.Socket asking = daemon.connect("PUT " + artifactPath("mallory", "m1", "asking.bin") + " HTTP/1.1\r\nContent-Length: "
                + (6 << 20) + "\r\nExpect: 100-continue\r\nAuthorization: Bearer " + malloryToken)) {
            assertThat(new String(asking.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.ISO_8859_1)).startsWith("HTTP/1.1 507");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        JsonNode victimAfter = get("/v1/tenants/victim/usage", victimToken).json();
        assertThat(victimAfter.get("used_bytes")).isEqualTo(victimBefore.get("used_bytes"));
        assertThat(victimAfter.get("state")).isEqualTo(victimBefore.get("state"));
        assertVictimUntouched(before);
        assertThat(upload("victim", victimToken, "v1", "after.bin", bytes(11, 64 * 1024)).status()).isEqualTo(201);
    }

    /**
     * Keys that collide as paths (a key and a key below it) are the caller's conflict, 409, never a
     * storage failure (503), which would also count against a remote backend's circuit breaker.
     */
    @Test
    void keysThatCollideAsPathsAreAConflictNotAStorageFailure() {
        SortedMap<String, String> before = snapshotOutsideMallory();
        String cache = "/v1/tenants/mallory/cache/";
        for (String type : List.of("dependencies/npm", "git-repos/host")) {
            assertThat(put(cache + type + "/a/b", malloryToken, "below").status()).isEqualTo(201);
            assertProblem(put(cache + type + "/a", malloryToken, "above"), 409, "a key cannot be both a blob and the directory");
            assertThat(put(cache + type + "/c", malloryToken, "above").status()).isEqualTo(201);
            assertProblem(put(cache + type + "/c/d", malloryToken, "below"), 409, "is a blob, not a directory");
            assertThat(get(cache + type + "/a", malloryToken).status()).isEqualTo(404);
            assertThat(get(cache + type + "/c/d", malloryToken).status()).isEqualTo(404);
            assertThat(get(cache + type + "/a/b", malloryToken).text()).isEqualTo("below");
        }
        assertVictimUntouched(before);
    }

    /**
     * TOCTOU on import: while mallory imports {@code temp/d/secret.bin}, her build process swaps
     * {@code d} for a link to the victim's temp directory (which holds a file of that name) and
     * back, as fast as it can. Each import publishes mallory's own bytes or is refused; the
     * victim's file never moves. The racer's timing is seeded (printed; replay with
     * {@code -Dbuilderd.test.seed=...}).
     */
    @Test
    void swappingADirectoryForALinkDuringAnImportNeverReachesTheVictim() throws IOException {
        // Before the fix the victim's file was taken within 22 rounds, or the import failed with a 503.
        int rounds = 100;
        long seed = seed();
        Path d = path(malloryBuild, "temp").resolve("d");
        byte[] own = bytes(seed, 4096);
        SortedMap<String, String> before = snapshotOutsideMallory();
        int imported = 0;
        for (int round = 0; round < rounds; round++) {
            Racer.restore(d);
            Files.createDirectories(d);
            Files.write(d.resolve("secret.bin"), own);
            Response response;
            try (Racer ignored = Racer.swap(d, path(victimBuild, "temp"), seed + round)) {
                response = daemon.sendOnce("POST", buildPath("mallory", "m1") + "/artifacts/grab-" + round + ".bin/import", malloryToken,
                        "{\"from\":\"temp/d/secret.bin\"}");
            }
            Racer.restore(d);
            assertThat(response.status()).as("round %d (seed %d): %s", round, seed, response).isIn(201, 400, 404, 409);
            if (response.status() == 201) {
                imported++;
                assertThat(response.json().get("sha256").asText()).as("round %d (seed %d)", round, seed).isEqualTo(sha256(own));
            }
            assertThat(path(victimBuild, "temp").resolve("secret.bin")).as("round %d (seed %d)", round, seed).hasBinaryContent(secret);
        }
        System.out.printf("import race (seed %d): %d of %d imports published mallory's own file, the rest were refused%n", seed, imported, rounds);
        assertVictimUntouched(before);
    }

    /**
     * TOCTOU on clean-up: while a build completes (its workspace and temp deleted), its process
     * swaps a directory in the workspace for a link to the victim's workspace, or to a directory
     * outside the data root, and back. Clean-up never deletes through the link. Seeded as above.
     */
    @Test
    void swappingADirectoryForALinkDuringCleanUpNeverReachesTheVictim() throws IOException {
        long seed = seed();
        assertThat(complete("mallory", malloryToken, "m1", "succeeded").status()).isEqualTo(200);
        SortedMap<String, String> before = snapshotOutsideMallory();
        for (int round = 0; round < 12; round++) {
            JsonNode build = build("mallory", malloryToken, "race-" + round);
            Path d = path(build, round % 2 == 0 ? "workspace" : "temp").resolve("d");
            Files.createDirectories(d.resolve("sub"));
            Files.write(d.resolve("notes.txt"), secret);
            Files.write(d.resolve("sub/notes.txt"), secret);
            Path target = round % 3 == 0 ? outside : path(victimBuild, "workspace");
            Response response;
            try (Racer ignored = Racer.swap(d, target, seed + round)) {
                response = complete("mallory", malloryToken, "race-" + round, "failed");
            }
            assertThat(response.status()).as("round %d (seed %d): %s", round, seed, response).isEqualTo(200);
            assertThat(path(victimBuild, "workspace").resolve("notes.txt")).as("round %d (seed %d)", round, seed).hasBinaryContent(secret);
            assertThat(outside.resolve("precious.txt")).as("round %d (seed %d)", round, seed).hasBinaryContent(secret);
        }
        assertVictimUntouched(before);
    }

    private static long seed() {
        long seed = Long.getLong("builderd.test.seed", new java.security.SecureRandom().nextLong());
        System.out.printf("seed %d (replay with -Dbuilderd.test.seed=%d)%n", seed, seed);
        return seed;
    }

    /**
     * A build process racing the daemon: it renames a directory aside, puts a link to {@code
     * target} in its place, and puts the directory back, over and over, pausing a seeded random
     * number of spins between steps, until closed. Steps that fail (the daemon moved or deleted
     * something first) are skipped.
     */
    static final class Racer implements AutoCloseable {
        private final java.util.concurrent.atomic.AtomicBoolean running = new java.util.concurrent.atomic.AtomicBoolean(true);
        private final Thread thread;

        private Racer(Path directory, Path target, long seed) {
            java.util.SplittableRandom random = new java.util.SplittableRandom(seed);
            Path aside = directory.resolveSibling(directory.getFileName() + ".real");
            thread = Thread.ofPlatform().name("racer").start(() -> {
                while (running.get()) {
                    try {
                        Files.move(directory, aside);
                        Files.createSymbolicLink(directory, target);
                        spin(random);
                        Files.delete(directory);
                        Files.move(aside, directory);
                        spin(random);
                    } catch (IOException skipped) {
                        // the daemon got there first: try again
                    }
                }
            });
        }

        static Racer swap(Path directory, Path target, long seed) {
            return new Racer(directory, target, seed);
        }

        /** Puts the real directory back if the race ended with the link in its place. */
        static void restore(Path directory) throws IOException {
            Path aside = directory.resolveSibling(directory.getFileName() + ".real");
            if (Files.isSymbolicLink(directory)) {
                Files.delete(directory);
            }
            if (Files.isDirectory(aside, LinkOption.NOFOLLOW_LINKS) && !Files.exists(directory, LinkOption.NOFOLLOW_LINKS)) {
                Files.move(aside, directory);
            }
        }

        private static void spin(java.util.SplittableRandom random) {
            for (int i = random.nextInt(20_000); i > 0; i--) {
                Thread.onSpinWait();
            }
        }

        @Override
        public void close() {
            running.set(false);
            try {
                thread.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }

    private void expect4xx(List<String> failures, String method, String path, String body) {
        Response response = daemon.sendOnce(method, path, malloryToken, body);
        if (response.status() < 400 || response.status() >= 500) {
            failures.add(method + " " + path + " " + printable(body) + " -> " + printable(response.toString()));
        }
    }

    /** The victim's data is byte-identical, reads back through the API, and the daemon is alive. */
    void assertVictimUntouched(SortedMap<String, String> before) {
        assertThat(snapshotOutsideMallory()).as("every file outside mallory's tree").isEqualTo(before);
        Response artifact = get(artifactPath("victim", "v1", "secret.bin"), victimToken);
        assertThat(artifact.status()).isEqualTo(200);
        assertThat(artifact.body()).isEqualTo(secret);
        assertThat(get("/v1/tenants/victim/cache/dependencies/npm/secret-1.0.tgz", victimToken).body()).isEqualTo(secret);
        assertThat(get(buildPath("victim", "v1") + "/logs/build.log", victimToken).body()).isEqualTo(secret);
        assertThat(get("/health/live", null).status()).isEqualTo(200);
    }

    /**
     * Every file, directory and link under the data root and the outside directory, except mallory's
     * own trees, the metadata database (which every request writes) and the audit log (which
     * records mallory's refused attempts), with the SHA-256 of each file's bytes or the target of
     * each link.
     */
    SortedMap<String, String> snapshotOutsideMallory() {
        SortedMap<String, String> tree = new TreeMap<>();
        for (Path root : List.of(dataRoot, outside)) {
            walk(root).filter(p -> !p.startsWith(dataRoot.resolve("tenants/mallory")) && !p.startsWith(dataRoot.resolve("metadata"))
                            && !p.startsWith(dataRoot.resolve("global/system-temp")) && !p.startsWith(dataRoot.resolve("global/audit")))
                    .forEach(p -> tree.put(p.toString(), describe(p)));
        }
        return tree;
    }

    private static String describe(Path path) {
        try {
            if (Files.isSymbolicLink(path)) {
                return "link to " + Files.readSymbolicLink(path);
            }
            if (Files.isDirectory(path, LinkOption.NOFOLLOW_LINKS)) {
                return "directory";
            }
            return sha256(Files.readAllBytes(path));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String fill(String template, String slot, String payload) {
        Map<String, String> own = Map.of("{T}", "mallory", "{B}", "m1", "{N}", "own.bin", "{K}", "npm/own.tgz", "{D}", "dependencies");
        String path = template.replace(slot, payload);
        for (Map.Entry<String, String> value : own.entrySet()) {
            path = path.replace(value.getKey(), value.getValue());
        }
        return path;
    }

    static String printable(String text) {
        String shown = text.length() > 200 ? text.substring(0, 200) + "…" : text;
        return shown.replaceAll("[^\\x20-\\x7e]", "?");
    }
}
