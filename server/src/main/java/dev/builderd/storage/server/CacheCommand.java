package dev.builderd.storage.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code builderd cache ...}: a running daemon's build caches, through its admin API on this host. */
@Command(name = "cache", mixinStandardHelpOptions = true,
        description = "Warm a tenant's build caches and show their policies and sizes on a running daemon.",
        subcommands = {CacheCommand.Warm.class, CacheCommand.Policies.class})
final class CacheCommand {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Mixin
    final AdminClient client;

    @Spec
    CommandSpec spec;

    CacheCommand() {
        this(System.getenv());
    }

    /** With {@code environment} in place of the process's (for tests). */
    CacheCommand(java.util.Map<String, String> environment) {
        this.client = new AdminClient(environment);
    }

    @Command(name = "warm", mixinStandardHelpOptions = true,
            description = "Pre-fill the local cache tiers (memory, local disk) with a tenant's entries, in the background.")
    static final class Warm implements Callable<Integer> {
        @ParentCommand
        CacheCommand cache;

        @Parameters(paramLabel = "TENANT", description = "the tenant whose entries to warm")
        String tenant;

        @Option(names = "--type", description = "the cache type: docker-layers, dependencies or git-repos (not with --from-global)")
        String type;

        /** Where the keys come from: exactly one. */
        static final class Source {
            @Option(names = "--key", description = "a key to warm (repeatable)")
            List<String> keys;

            @Option(names = "--keys-file", description = "a file with one key per line")
            Path keysFile;

            @Option(names = "--from-tenant", description = "warm the keys that this other tenant holds in the same cache type")
            String fromTenant;

            @Option(names = "--from-global", description = "warm the global registry cache's layers")
            boolean fromGlobal;
        }

        @ArgGroup(exclusive = true, multiplicity = "1")
        Source source;

        @Option(names = "--wait", description = "print progress until the job ends")
        boolean await;

        @Override
        public Integer call() throws Exception {
            ObjectNode body = JSON.createObjectNode();
            if (type != null) {
                body.put("type", type);
            }
            List<String> keys = new ArrayList<>(source.keys == null ? List.of() : source.keys);
            if (source.keysFile != null) {
                keys.addAll(readKeys(source.keysFile));
            }
            if (!keys.isEmpty()) {
                keys.forEach(body.putArray("keys")::add);
            }
            if (source.fromTenant != null) {
                body.put("from_tenant", source.fromTenant);
            }
            if (source.fromGlobal) {
                body.put("from_global", true);
            }
            var started = cache.client.send("POST", "/v1/tenants/" + tenant + "/cache-warming", JSON.writeValueAsString(body));
            var out = cache.spec.commandLine().getOut();
            if (started.statusCode() != 202 || !await) {
                return cache.client.print(started, out);
            }
            String job = AdminClient.json(started.body()).path("id").asText();
            return cache.client.awaitJob("/v1/tenants/" + tenant + "/cache-warming/" + job, answer -> answer,
                    state -> String.format("%s: %d of %s entries fetched (%d bytes), %d local already, %d missing, %d failed",
                            state.path("state").asText(), state.path("fetched").asLong(),
                            state.path("total").asLong() < 0 ? "?" : state.path("total").asText(), state.path("bytes_fetched").asLong(),
                            state.path("already_local").asLong(), state.path("missing").asLong(), state.path("failed").asLong()), out);
        }

        private static List<String> readKeys(Path file) throws IOException {
            return Files.readAllLines(file).stream().map(String::strip).filter(line -> !line.isEmpty() && !line.startsWith("#")).toList();
        }
    }

    @Command(name = "policies", mixinStandardHelpOptions = true,
            description = "Show each cache type of a tenant: its eviction policy in force, its size and its maximum size.")
    static final class Policies implements Callable<Integer> {
        @ParentCommand
        CacheCommand cache;

        @Parameters(paramLabel = "TENANT")
        String tenant;

        @Override
        public Integer call() throws Exception {
            return cache.client.call("GET", "/v1/tenants/" + tenant + "/cache-policies", null, cache.spec.commandLine().getOut());
        }
    }
}
