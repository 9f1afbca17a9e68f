package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.builderd.storage.core.Stores;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The real clients that run here, pointed at a tenant by configuration alone: ccache (Debian)
 * compiles a small C project twice, each time with an empty local cache, the second time from
 * the daemon; turbo (npm) runs a monorepo task twice, the second time a remote hit. They speak
 * the protocol, which does not depend on the metadata store, so they run on SQLite only.
 *
 * <p>{@code bin/test} installs both (see {@code bin/lib/test-servers.sh}): ccache and gcc from
 * Debian, turbo {@value #TURBO_VERSION} into {@code ~/.cache/builderd/turbo-VERSION}
 * ({@code $BUILDERD_TURBO_DIR}, or the program itself at {@code $BUILDERD_TURBO_BIN}).
 */
@ParameterizedClass
@EnumSource(value = MetadataKind.class, names = "SQLITE")
class BuildToolCachesRealClientsHttpTest extends HttpApiTestBase {

    /** The turbo version {@code bin/test} installs. */
    static final String TURBO_VERSION = "2.8.17";

    @TempDir
    Path work;

    /** What a client printed, and how it ended. */
    private record Run(int exitCode, String output) {
    }

    private Run run(Path directory, Map<String, String> environment, String... command) {
        ProcessBuilder builder = new ProcessBuilder(command).directory(directory.toFile()).redirectErrorStream(true);
        builder.environment().putAll(environment);
        try {
            Process process = builder.start();
            // Read to the end first: a client that fills the pipe would otherwise never exit.
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!process.waitFor(2, TimeUnit.MINUTES)) {
                process.destroyForcibly();
                throw new AssertionError(String.join(" ", command) + " did not exit within 2 minutes:\n" + output);
            }
            return new Run(process.exitValue(), output);
        } catch (IOException e) {
            throw new UncheckedIOException(String.join(" ", command) + " could not be started; bin/test installs it", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private Run succeed(Path directory, Map<String, String> environment, String... command) {
        Run run = run(directory, environment, command);
        assertThat(run.exitCode()).as("%s:%n%s", String.join(" ", command), run.output()).isZero();
        return run;
    }

    private String cacheBase(String tool, String tenant) {
        return "http://127.0.0.1:" + daemon.port() + "/cache/" + tool + "/" + tenant;
    }

    private long cacheUsed(String tenant, String token) {
        return get("/v1/tenants/" + tenant + "/usage", token).json().get("categories").get("cache").get("used_bytes").asLong();
    }

    // ---------------------------------------------------------------- ccache

    /** ccache's statistics of one cache directory, from {@code --print-stats} (name, tab, count). */
    private Map<String, Long> ccacheStats(Path project, Map<String, String> environment) {
        Map<String, Long> stats = new HashMap<>();
        for (String line : succeed(project, environment, "ccache", "--print-stats").output().split("\n")) {
            String[] field = line.split("\t");
            if (field.length == 2 && field[1].matches("[0-9]+")) {
                stats.put(field[0], Long.parseLong(field[1]));
            }
        }
        return stats;
    }

    /** Compiles and links the project with ccache in a fresh, empty local cache; returns its statistics. */
    private Map<String, Long> compileWithEmptyLocalCache(Path project, String remoteStorage, String run) throws IOException {
        Map<String, String> environment = Map.of(
                "CCACHE_DIR", Files.createDirectory(work.resolve("ccache-" + run)).toString(),
                "CCACHE_CONFIGPATH", Files.writeString(work.resolve("ccache-" + run + ".conf"), "").toString(),
                "CCACHE_REMOTE_STORAGE", remoteStorage);
        List<String> objects = new ArrayList<>();
        for (String source : List.of("a", "b", "main")) {
            succeed(project, environment, "ccache", "gcc", "-O2", "-c", source + ".c", "-o", source + ".o");
            objects.add(source + ".o");
        }
        List<String> link = new ArrayList<>(List.of("gcc", "-o", "app"));
        link.addAll(objects);
        succeed(project, environment, link.toArray(String[]::new));
        assertThat(succeed(project, Map.of(), project.resolve("app").toString()).output()).isEqualTo("3\n");
        return ccacheStats(project, environment);
    }

    @Test
    void ccacheCompilesTheSecondTimeFromTheTenantsCache() throws IOException {
        String token = tenant("acme", "pro");
        Path project = Files.createDirectory(work.resolve("c-project"));
        write(project.resolve("a.c"), "int a(void) { return 1; }\n");
        write(project.resolve("b.c"), "int a(void);\nint b(void) { return a() + 2; }\n");
        write(project.resolve("main.c"), "#include <stdio.h>\nint b(void);\nint main(void) { printf(\"%d\\n\", b()); return 0; }\n");
        // The token as the password in the URL's user info, which ccache sends as Basic credentials
        // (its bearer-token attribute, the other way docs/build-tools.md gives, sends it as Bearer).
        String remote = "http://acme:" + token + "@127.0.0.1:" + daemon.port() + "/cache/ccache/acme";

        Map<String, Long> first = compileWithEmptyLocalCache(project, remote, "first");
        assertThat(first).as("%s", first).containsEntry("remote_storage_miss", 3L).containsEntry("remote_storage_error", 0L)
                .containsEntry("remote_storage_hit", 0L);
        assertThat(first.get("remote_storage_write")).as("a result and a manifest per file").isEqualTo(6L);
        assertThat(storedKeys(Stores::caches, "tenants/acme/cache/dependencies/ccache/")).hasSize(6);
        long stored = cacheUsed("acme", token);
        assertThat(stored).isPositive();

        Map<String, Long> second = compileWithEmptyLocalCache(project, remote, "second");
        assertThat(second).as("%s", second).containsEntry("remote_storage_hit", 3L).containsEntry("remote_storage_miss", 0L)
                .containsEntry("local_storage_hit", 0L).containsEntry("remote_storage_error", 0L);
        assertThat(cacheUsed("acme", token)).as("nothing stored again").isEqualTo(stored);
    }

    // ---------------------------------------------------------------- turbo

    private static Path turboProgramDirectory() {
        String program = System.getenv("BUILDERD_TURBO_BIN");
        if (program != null && !program.isBlank()) {
            return Path.of(program).toAbsolutePath().getParent().getParent();
        }
        String dir = System.getenv("BUILDERD_TURBO_DIR");
        if (dir == null || dir.isBlank()) {
            String cache = System.getenv("XDG_CACHE_HOME");
            Path base = cache == null || cache.isBlank() ? Path.of(System.getProperty("user.home"), ".cache") : Path.of(cache);
            return base.resolve("builderd/turbo-" + TURBO_VERSION + "/node_modules");
        }
        return Path.of(dir).resolve("node_modules");
    }

    /**
     * A monorepo of npm workspaces with one package whose build writes {@code dist/}; its
     * {@code node_modules} is the installed turbo's, as if turbo were a dependency of it (so that
     * turbo runs as the repository's own and warns about nothing).
     */
    private Path monorepo() throws IOException {
        Path modules = turboProgramDirectory();
        assertThat(modules.resolve(".bin/turbo")).as("turbo %s is installed by bin/test (bin/lib/test-servers.sh)", TURBO_VERSION)
                .isExecutable();
        Path repo = Files.createDirectory(work.resolve("monorepo"));
        write(repo.resolve("package.json"), """
                {"name": "mono", "private": true, "packageManager": "npm@10.9.0", "workspaces": ["packages/*"]}
                """);
        write(repo.resolve("package-lock.json"), """
                {"name": "mono", "lockfileVersion": 3, "requires": true, "packages": {
                  "": {"name": "mono", "workspaces": ["packages/*"]},
                  "node_modules/app": {"resolved": "packages/app", "link": true},
                  "packages/app": {"version": "1.0.0"}}}
                """);
        write(repo.resolve("turbo.json"), """
                {"tasks": {"build": {"outputs": ["dist/**"]}}}
                """);
        // Without git, turbo hashes the files itself and leaves out what .gitignore names.
        write(repo.resolve(".gitignore"), "node_modules\n.turbo\ndist\n");
        write(repo.resolve("packages/app/package.json"), """
                {"name": "app", "version": "1.0.0", "scripts": {"build": "mkdir -p dist && echo built > dist/out.txt"}}
                """);
        Files.createSymbolicLink(repo.resolve("node_modules"), modules);
        return repo;
    }

    /** Runs the build with the remote cache only (no local cache to hit), and returns its output and run summary. */
    private JsonNode turboBuild(Path repo, Map<String, String> environment, List<String> outputs) throws IOException {
        deleteRecursively(repo.resolve(".turbo"));
        deleteRecursively(repo.resolve("packages/app/dist"));
        Run run = succeed(repo, environment, repo.resolve("node_modules/.bin/turbo").toString(), "run", "build",
                "--cache=remote:rw", "--summarize");
        outputs.add(run.output());
        try (Stream<Path> summaries = Files.list(repo.resolve(".turbo/runs"))) {
            Path summary = summaries.filter(p -> p.toString().endsWith(".json")).findFirst().orElseThrow();
            return new ObjectMapper().readTree(summary.toFile()).get("tasks").get(0).get("cache");
        }
    }

    @Test
    void turboRunsATaskTheSecondTimeFromTheTenantsRemoteCache() throws IOException {
        String token = tenant("acme", "pro");
        Path repo = monorepo();
        try {
            buildTwice(repo, token);
        } finally {
            // The link leads out of the temporary directory, which JUnit warns about when it cleans up.
            Files.delete(repo.resolve("node_modules"));
        }
    }

    private void buildTwice(Path repo, String token) throws IOException {
        Map<String, String> environment = Map.of("TURBO_API", cacheBase("turbo", "acme"), "TURBO_TOKEN", token,
                "TURBO_TEAM", "acme", "TURBO_TELEMETRY_DISABLED", "1", "DO_NOT_TRACK", "1", "TURBO_NO_UPDATE_NOTIFIER", "1",
                "TURBO_CONFIG_DIR_PATH", work.resolve("turbo-config").toString());
        List<String> outputs = new ArrayList<>();

        JsonNode first = turboBuild(repo, environment, outputs);
        assertThat(outputs.get(0)).contains("Remote caching enabled", "cache miss, executing");
        assertThat(first.get("status").asText()).as("%s", first).isEqualTo("MISS");
        assertThat(storedKeys(Stores::caches, "tenants/acme/cache/dependencies/turbo/")).as(outputs.get(0)).hasSize(1);

        JsonNode second = turboBuild(repo, environment, outputs);
        assertThat(outputs.get(1)).contains("cache hit, replaying logs", "FULL TURBO");
        assertThat(second.get("status").asText()).as("%s", second).isEqualTo("HIT");
        assertThat(second.get("source").asText()).isEqualTo("REMOTE");
        assertThat(second.get("timeSaved").asLong()).as("the task's duration, stored as x-artifact-duration").isPositive();
        assertThat(Files.readString(repo.resolve("packages/app/dist/out.txt"))).isEqualTo("built\n");
        assertThat(String.join("\n", outputs)).as("turbo is content with every answer").doesNotContain("WARNING")
                .doesNotContainIgnoringCase("error");
        assertThat(cacheUsed("acme", token)).isPositive();
    }

    private static void deleteRecursively(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(path);
            }
        }
    }
}
