package dev.builderd.storage.server;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code builderd scrub ...}: the integrity scrub of a running daemon, through its admin API on this host. */
@Command(name = "scrub", mixinStandardHelpOptions = true,
        description = "Re-read every stored artifact and layer and check its SHA-256 now, or show the last pass and what it found.",
        subcommands = {ScrubCommand.Run.class, ScrubCommand.Status.class})
final class ScrubCommand {

    @Mixin
    final AdminClient client;

    @Spec
    CommandSpec spec;

    ScrubCommand() {
        this(System.getenv());
    }

    /** With {@code environment} in place of the process's (for tests). */
    ScrubCommand(java.util.Map<String, String> environment) {
        this.client = new AdminClient(environment);
    }

    @Command(name = "run", mixinStandardHelpOptions = true, description = "Start a scrub pass now (in the background).")
    static final class Run implements Callable<Integer> {
        @ParentCommand
        ScrubCommand scrub;

        @Option(names = "--wait", description = "print progress until the pass ends; exit 1 if it found damaged blobs")
        boolean await;

        @Override
        public Integer call() throws Exception {
            var out = scrub.spec.commandLine().getOut();
            var started = scrub.client.send("POST", "/v1/admin/scrub", null);
            if (started.statusCode() != 202 || !await) {
                return scrub.client.print(started, out);
            }
            int ended = scrub.client.awaitJob("/v1/admin/scrub", answer -> answer,
                    pass -> String.format("%s: %d blobs (%d bytes) checked, %d damaged", pass.path("state").asText(),
                            pass.path("blobs_checked").asLong(), pass.path("bytes_checked").asLong(), pass.path("corrupt_found").asLong()),
                    out);
            var outcome = scrub.client.send("GET", "/v1/admin/scrub", null);
            scrub.client.print(outcome, out);
            return ended == 0 && AdminClient.json(outcome.body()).path("corrupt").isEmpty() ? 0 : 1;
        }
    }

    @Command(name = "status", mixinStandardHelpOptions = true, description = "Show the current or last pass and every damaged blob on record.")
    static final class Status implements Callable<Integer> {
        @ParentCommand
        ScrubCommand scrub;

        @Override
        public Integer call() throws Exception {
            return scrub.client.call("GET", "/v1/admin/scrub", null, scrub.spec.commandLine().getOut());
        }
    }
}
