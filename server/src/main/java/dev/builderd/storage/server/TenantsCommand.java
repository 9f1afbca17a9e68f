package dev.builderd.storage.server;

import dev.builderd.storage.core.fs.SelinuxCommands;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.server.config.ConfigParser;
import dev.builderd.storage.server.config.DaemonConfig;
import java.io.PrintWriter;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code builderd tenants ...}: how a tenant's directory trees are protected (docs/security-filesystem.md). */
@Command(name = "tenants", mixinStandardHelpOptions = true,
        description = "Check a tenant's directory protection on a running daemon, or print the SELinux commands for its trees.",
        subcommands = {TenantsCommand.Filesystem.class, TenantsCommand.Selinux.class})
final class TenantsCommand {

    @Mixin
    final AdminClient client;

    @Spec
    CommandSpec spec;

    private final Map<String, String> environment;

    TenantsCommand() {
        this(System.getenv());
    }

    /** With {@code environment} in place of the process's (for tests). */
    TenantsCommand(Map<String, String> environment) {
        this.environment = environment;
        this.client = new AdminClient(environment);
    }

    @Command(name = "filesystem", mixinStandardHelpOptions = true,
            description = "Check now that the tenant's directories have the specified owner, mode and ACL; exit 1 on a mismatch.")
    static final class Filesystem implements Callable<Integer> {
        @ParentCommand
        TenantsCommand tenants;

        @Parameters(paramLabel = "TENANT")
        String tenant;

        @Override
        public Integer call() throws Exception {
            var answer = tenants.client.send("GET", "/v1/tenants/" + TenantId.of(tenant) + "/filesystem", null);
            int printed = tenants.client.print(answer, tenants.spec.commandLine().getOut());
            return printed == 0 && AdminClient.json(answer.body()).path("problems").isEmpty() ? 0 : 1;
        }
    }

    @Command(name = "selinux-commands", mixinStandardHelpOptions = true,
            description = "Print the semanage and restorecon commands that label the tenant's trees in every category root"
                    + " (from this environment's UNKEY_BUILDERD_*_DIR variables; nothing is run).")
    static final class Selinux implements Callable<Integer> {
        @ParentCommand
        TenantsCommand tenants;

        @Parameters(paramLabel = "TENANT")
        String tenant;

        @Option(names = "--type", description = "the SELinux type of the tenant's files (default: ${DEFAULT-VALUE})")
        String type = SelinuxCommands.DEFAULT_TYPE;

        @Override
        public Integer call() {
            DaemonConfig config = ConfigParser.parse(tenants.environment);
            PrintWriter out = tenants.spec.commandLine().getOut();
            SelinuxCommands.forTenant(config.layout(), TenantId.of(tenant), type).forEach(out::println);
            out.flush();
            return 0;
        }
    }
}
