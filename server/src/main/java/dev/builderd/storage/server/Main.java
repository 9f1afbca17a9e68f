package dev.builderd.storage.server;

import dev.builderd.storage.server.config.ConfigException;
import dev.builderd.storage.server.config.ConfigParser;
import dev.builderd.storage.server.config.DaemonConfig;
import dev.builderd.storage.server.config.Variable;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code builderd} command: runs the daemon, configured from the environment. */
@Command(name = "builderd", mixinStandardHelpOptions = true, version = "Builderd Storage 0.1.0",
        description = "Runs the Builderd Storage daemon: multi-tenant build storage behind an HTTP API.",
        subcommands = {KeysCommand.class, UsageCommand.class, CacheCommand.class, RetentionCommand.class, ScrubCommand.class,
                ReplicationCommand.class, BackupCommand.class, TenantsCommand.class})
public final class Main implements Callable<Integer> {

    @Override
    public Integer call() throws Exception {
        DaemonConfig config;
        try {
            config = ConfigParser.parse(System.getenv());
        } catch (ConfigException e) {
            System.err.println("builderd: " + e.getMessage());
            System.err.println("Run 'builderd --help' for every variable and its default.");
            return 2;
        }
        Daemon daemon;
        try {
            daemon = Daemon.start(config);
        } catch (ConfigException e) {
            // The TLS files and the plain-HTTP rule are checked when the daemon starts, not when parsed.
            System.err.println("builderd: " + e.getMessage());
            return 2;
        } catch (IllegalStateException e) {
            System.err.println("builderd: cannot start: " + e.getMessage());
            return 1;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            daemon.close();
            stopped.countDown();
        }, "builderd-shutdown"));
        stopped.await();
        return 0;
    }

    public static void main(String[] args) {
        CommandLine commandLine = new CommandLine(new Main()).setUsageHelpWidth(120)
                .setExecutionExceptionHandler((e, command, parsed) -> {
                    command.getErr().println("builderd: " + e.getMessage());
                    return 1;
                });
        commandLine.getCommandSpec().usageMessage()
                .footerHeading("%nEnvironment variables:%n")
                .footer(Variable.helpTable().replace("%", "%%"));
        System.exit(commandLine.execute(args));
    }
}
