package dev.builderd.storage.server;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code builderd replication ...}: the replication of a running daemon, through its admin API on this host. */
@Command(name = "replication", mixinStandardHelpOptions = true,
        description = "Show how far the replica lags behind, or compare primary and replica now and enqueue every difference.",
        subcommands = {ReplicationCommand.Status.class, ReplicationCommand.Repair.class})
final class ReplicationCommand {

    @Mixin
    final AdminClient client;

    @Spec
    CommandSpec spec;

    ReplicationCommand() {
        this(System.getenv());
    }

    /** With {@code environment} in place of the process's (for tests). */
    ReplicationCommand(java.util.Map<String, String> environment) {
        this.client = new AdminClient(environment);
    }

    @Command(name = "status", mixinStandardHelpOptions = true,
            description = "Keys waiting to replicate, the lag in seconds and bytes, failing keys with their last error, the last repair.")
    static final class Status implements Callable<Integer> {
        @ParentCommand
        ReplicationCommand replication;

        @Override
        public Integer call() throws Exception {
            return replication.client.call("GET", "/v1/admin/replication", null, replication.spec.commandLine().getOut());
        }
    }

    @Command(name = "repair", mixinStandardHelpOptions = true,
            description = "Walk primary and replica in key order now and enqueue every difference; prints the counts.")
    static final class Repair implements Callable<Integer> {
        @ParentCommand
        ReplicationCommand replication;

        @Override
        public Integer call() throws Exception {
            return replication.client.call("POST", "/v1/admin/replication/repair", null, replication.spec.commandLine().getOut());
        }
    }
}
