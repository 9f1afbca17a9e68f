package dev.builderd.storage.core.fs;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Real system groups and users for tests of tenant isolation (root only), removed on close.
 * Names carry a random part, so runs side by side never collide.
 */
final class SystemAccounts implements AutoCloseable {

    private final List<List<String>> undo = new ArrayList<>();

    /** Creates the group {@code name}. */
    void group(String name) throws IOException, InterruptedException {
        run(List.of("groupadd", "--system", name));
        undo.add(List.of("groupdel", name));
    }

    /** Creates the user {@code name} with its own group of the same name, no home and no login. */
    void userWithGroup(String name) throws IOException, InterruptedException {
        run(List.of("useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", name));
        undo.add(List.of("groupdel", "-f", name));
        undo.add(List.of("userdel", name));
    }

    /** The numeric user or group ID of {@code name} ({@code id -u}, {@code getent group}). */
    static int id(String flag, String name) throws IOException, InterruptedException {
        if (flag.equals("-g")) {
            return Integer.parseInt(output(List.of("getent", "group", name)).split(":")[2]);
        }
        return Integer.parseInt(output(List.of("id", flag, name)).strip());
    }

    static void run(List<String> command) throws IOException, InterruptedException {
        output(command);
    }

    private static String output(List<String> command) throws IOException, InterruptedException {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes());
        assertThat(process.waitFor()).as("%s: %s", command, output).isZero();
        return output;
    }

    @Override
    public void close() throws Exception {
        for (List<String> command : undo.reversed()) {
            // userdel already removed a user's own group; the forced groupdel then finds nothing.
            new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start().waitFor();
        }
    }
}
