package dev.builderd.storage.server;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code builderd retention ...}: a tenant's retention policy on a running daemon, through its admin API on this host. */
@Command(name = "retention", mixinStandardHelpOptions = true,
        description = "Show or set a tenant's retention policy, see what the janitor would delete, run it, and read what it deleted.",
        subcommands = {RetentionCommand.Show.class, RetentionCommand.Set.class, RetentionCommand.DryRun.class,
                RetentionCommand.Run.class, RetentionCommand.Deletions.class})
final class RetentionCommand {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Mixin
    final AdminClient client;

    @Spec
    CommandSpec spec;

    RetentionCommand() {
        this(System.getenv());
    }

    /** With {@code environment} in place of the process's (for tests). */
    RetentionCommand(Map<String, String> environment) {
        this.client = new AdminClient(environment);
    }

    private static String path(String tenant) {
        return "/v1/tenants/" + tenant + "/retention-policy";
    }

    private int call(String method, String path, String body) throws Exception {
        return client.call(method, path, body, spec.commandLine().getOut());
    }

    @Command(name = "show", mixinStandardHelpOptions = true,
            description = "The policy in force, the tier's defaults and the tenant's own values.")
    static final class Show implements Callable<Integer> {
        @ParentCommand
        RetentionCommand retention;

        @Parameters(paramLabel = "TENANT")
        String tenant;

        @Override
        public Integer call() throws Exception {
            return retention.call("GET", path(tenant), null);
        }
    }

    @Command(name = "set", mixinStandardHelpOptions = true,
            description = "Replace the tenant's own values; a value not given follows the tier (none given: the tier's policy).")
    static final class Set implements Callable<Integer> {
        @ParentCommand
        RetentionCommand retention;

        @Parameters(paramLabel = "TENANT")
        String tenant;

        @Option(names = "--artifact-max-age-days", description = "successful builds older than this are deleted (1 to 36500)")
        Integer artifactMaxAgeDays;

        @Option(names = "--keep-last-successful", description = "the last N successful builds are kept regardless of age (0 to 10000)")
        Integer keepLastSuccessful;

        @Option(names = "--failed-build-max-age-days", description = "failed builds older than this are deleted (1 to 36500)")
        Integer failedBuildMaxAgeDays;

        @Option(names = "--log-max-age-days", description = "logs of kept builds older than this are deleted (1 to 36500)")
        Integer logMaxAgeDays;

        @Override
        public Integer call() throws Exception {
            ObjectNode body = JSON.createObjectNode();
            put(body, "artifact_max_age_days", artifactMaxAgeDays);
            put(body, "keep_last_successful", keepLastSuccessful);
            put(body, "failed_build_max_age_days", failedBuildMaxAgeDays);
            put(body, "log_max_age_days", logMaxAgeDays);
            return retention.call("PUT", path(tenant), JSON.writeValueAsString(body));
        }

        private static void put(ObjectNode body, String field, Integer value) {
            if (value != null) {
                body.put(field, value);
            }
        }
    }

    @Command(name = "dry-run", mixinStandardHelpOptions = true,
            description = "What the janitor would delete now, and why; deletes nothing.")
    static final class DryRun implements Callable<Integer> {
        @ParentCommand
        RetentionCommand retention;

        @Parameters(paramLabel = "TENANT")
        String tenant;

        @Override
        public Integer call() throws Exception {
            return retention.call("GET", path(tenant) + "/dry-run", null);
        }
    }

    @Command(name = "run", mixinStandardHelpOptions = true,
            description = "Apply the tenant's policy now, rather than at the janitor's next run; prints what was deleted.")
    static final class Run implements Callable<Integer> {
        @ParentCommand
        RetentionCommand retention;

        @Parameters(paramLabel = "TENANT")
        String tenant;

        @Override
        public Integer call() throws Exception {
            return retention.call("POST", path(tenant) + "/run", null);
        }
    }

    @Command(name = "deletions", mixinStandardHelpOptions = true,
            description = "What the janitor deleted of the tenant (retention and orphans), newest first.")
    static final class Deletions implements Callable<Integer> {
        @ParentCommand
        RetentionCommand retention;

        @Parameters(paramLabel = "TENANT")
        String tenant;

        @Option(names = "--limit", defaultValue = "100", description = "at most this many (1 to 1000; default ${DEFAULT-VALUE})")
        int limit;

        @Override
        public Integer call() throws Exception {
            return retention.call("GET", path(tenant) + "/deletions?limit=" + limit, null);
        }
    }
}
