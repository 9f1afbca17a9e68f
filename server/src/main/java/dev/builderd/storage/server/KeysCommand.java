package dev.builderd.storage.server;

import java.io.IOException;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
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

    @Mixin
    final AdminClient client;

    @Spec
    CommandSpec spec;

    KeysCommand() {
        this(System.getenv());
    }

    /** With {@code environment} in place of the process's (for tests). */
    KeysCommand(java.util.Map<String, String> environment) {
        this.client = new AdminClient(environment);
    }

    int call(String method, String path, String body) throws IOException, InterruptedException {
        return client.call(method, path, body, spec.commandLine().getOut());
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
            return keys.client.awaitJob("/v1/tenants/" + tenant, answer -> answer.path("encryption_status").path("reencryption"),
                    job -> String.format("%s: %d of %d blobs, %d rewritten (%d bytes)", job.path("state").asText(),
                            job.path("blobs_done").asLong(), job.path("blobs_total").asLong(), job.path("blobs_rewritten").asLong(),
                            job.path("bytes_rewritten").asLong()), keys.spec.commandLine().getOut());
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
