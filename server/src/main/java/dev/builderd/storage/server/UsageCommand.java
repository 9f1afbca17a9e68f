package dev.builderd.storage.server;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code builderd usage TENANT}: a tenant's usage against its limits, from a running daemon. */
@Command(name = "usage", mixinStandardHelpOptions = true,
        description = "Show a tenant's storage usage per category, its limits, and whether it is past its soft or hard limit.")
final class UsageCommand implements Callable<Integer> {

    @Mixin
    final AdminClient client;

    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "TENANT")
    String tenant;

    UsageCommand() {
        this(System.getenv());
    }

    /** With {@code environment} in place of the process's (for tests). */
    UsageCommand(java.util.Map<String, String> environment) {
        this.client = new AdminClient(environment);
    }

    @Override
    public Integer call() throws Exception {
        return client.call("GET", "/v1/tenants/" + tenant + "/usage", null, spec.commandLine().getOut());
    }
}
