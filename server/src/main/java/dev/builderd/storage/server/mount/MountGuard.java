package dev.builderd.storage.server.mount;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes sure the data root is on the configured network filesystem before the daemon serves:
 * verifies the mount table, mounts it when it is not mounted and the process may (it runs as
 * root), and otherwise refuses to start with a message that says what is wrong. The same check
 * feeds {@code /health/storage} while the daemon runs.
 */
public final class MountGuard {

    private static final Logger LOG = LoggerFactory.getLogger(MountGuard.class);
    private static final long COMMAND_TIMEOUT_SECONDS = 60;

    /** Runs a command; returns its exit status and output. */
    public interface CommandRunner {
        Result run(List<String> command) throws IOException;

        record Result(int exitStatus, String output) {
        }
    }

    private final NetworkMount mount;
    private final Path dataRoot;
    private final CommandRunner runner;
    private final MountTableSource tables;

    /** Where mount tables come from (the kernel, or a recording in tests). */
    public interface MountTableSource {
        MountTable read() throws IOException;
    }

    public MountGuard(NetworkMount mount, Path dataRoot, MountTableSource tables, CommandRunner runner) {
        this.mount = mount;
        this.dataRoot = dataRoot;
        this.tables = tables;
        this.runner = runner;
    }

    /** The real kernel and real commands. */
    public static MountGuard forThisMachine(NetworkMount mount, Path dataRoot) {
        return new MountGuard(mount, dataRoot, MountTable::current, MountGuard::runProcess);
    }

    /** Why the data root is not on the mount right now, or empty when it is. */
    public Optional<String> problem() throws IOException {
        return mount.problemWith(tables.read(), dataRoot);
    }

    /**
     * Returns when the data root is on the mount, mounting it first if needed and allowed.
     *
     * @throws IOException naming the problem and the command that failed, if any
     */
    public void ensureMounted(boolean mayMount) throws IOException {
        Optional<String> problem = problem();
        if (problem.isEmpty()) {
            return;
        }
        if (!mayMount) {
            throw new IOException(problem.get() + "; mount it first, or run the daemon as root so that it mounts it");
        }
        Files.createDirectories(dataRoot);
        for (List<String> command : mount.mountCommands(dataRoot)) {
            LOG.info("mounting the data root: {}", String.join(" ", command));
            CommandRunner.Result result = runner.run(command);
            if (result.exitStatus() != 0) {
                throw new IOException(problem.get() + "; '" + String.join(" ", command) + "' failed with status "
                        + result.exitStatus() + ": " + result.output().strip());
            }
        }
        Optional<String> after = problem();
        if (after.isPresent()) {
            throw new IOException("after mounting, " + after.get());
        }
    }

    private static CommandRunner.Result runProcess(List<String> command) throws IOException {
        Process process;
        try {
            process = new ProcessBuilder(command).redirectErrorStream(true).start();
        } catch (IOException e) {
            return new CommandRunner.Result(127, command.get(0) + " could not be run: " + e.getMessage());
        }
        try {
            if (!process.waitFor(COMMAND_TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                return new CommandRunner.Result(124, "timed out after " + COMMAND_TIMEOUT_SECONDS + " s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
            throw new IOException("interrupted while running " + command.get(0), e);
        }
        return new CommandRunner.Result(process.exitValue(),
                new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8));
    }
}
