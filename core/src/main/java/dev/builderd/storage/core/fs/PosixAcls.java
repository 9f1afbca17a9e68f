package dev.builderd.storage.core.fs;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * POSIX.1e access control lists through the {@code acl} package's {@code setfacl} and
 * {@code getfacl}: Java's {@code AclFileAttributeView} speaks NFSv4 ACLs, which ext4, XFS and
 * btrfs do not have. The tools are run directly with argument arrays, never through a shell, so
 * no path or name is ever interpreted.
 *
 * <p>Entries are written in the tools' short text form, {@code user:builderd:rwx},
 * {@code group:builderd-t-acme:rwx}, {@code other::---}, {@code mask::rwx}; default entries (those
 * new files and directories inherit) carry a {@code default:} prefix.
 */
public final class PosixAcls {

    /** Longer than either tool takes on any tree the service asks it to walk. */
    private static final long TIMEOUT_SECONDS = 60;

    private final Path setfacl;
    private final Path getfacl;

    private PosixAcls(Path setfacl, Path getfacl) {
        this.setfacl = setfacl;
        this.getfacl = getfacl;
    }

    /** The tools found on {@code PATH}, or empty when either is missing (the {@code acl} package is not installed). */
    public static Optional<PosixAcls> find() {
        Optional<Path> set = onPath("setfacl");
        Optional<Path> get = onPath("getfacl");
        return set.isPresent() && get.isPresent() ? Optional.of(new PosixAcls(set.get(), get.get())) : Optional.empty();
    }

    private static Optional<Path> onPath(String tool) {
        String path = System.getenv("PATH");
        List<String> directories = new ArrayList<>(List.of((path == null ? "" : path).split(":")));
        // A service's PATH may be minimal; the Debian package installs into /usr/bin.
        directories.add("/usr/bin");
        return directories.stream().filter(d -> !d.isEmpty()).map(d -> Path.of(d, tool)).filter(Files::isExecutable).findFirst();
    }

    /**
     * Adds or replaces {@code entries} (access and {@code default:} ones alike) on each of
     * {@code paths}.
     *
     * @throws IOException naming the tool's complaint when it fails for any path (for example a
     *     filesystem mounted without ACL support)
     */
    public void modify(List<Path> paths, List<String> entries) throws IOException {
        List<String> command = new ArrayList<>(List.of(setfacl.toString()));
        command.add("-m");
        command.add(String.join(",", entries));
        command.add("--");
        paths.forEach(p -> command.add(p.toString()));
        run(command);
    }

    /**
     * The entries of each of {@code paths}, access and default ones, in the tools' short text
     * form; a path's base entries ({@code user::}, {@code group::}, {@code other::}) are always
     * among them.
     */
    public Map<Path, Set<String>> read(List<Path> paths) throws IOException {
        List<String> command = new ArrayList<>(List.of(getfacl.toString(), "--absolute-names", "--"));
        paths.forEach(p -> command.add(p.toString()));
        Map<Path, Set<String>> acls = new LinkedHashMap<>();
        Set<String> current = null;
        for (String line : run(command).split("\n")) {
            if (line.startsWith("# file: ")) {
                current = new LinkedHashSet<>();
                acls.put(Path.of(unescape(line.substring("# file: ".length()))), current);
            } else if (!line.isBlank() && !line.startsWith("#") && current != null) {
                // An entry reduced by the mask is followed by "#effective:..."; the entry itself is what was set.
                int comment = line.indexOf('#');
                current.add((comment < 0 ? line : line.substring(0, comment)).strip());
            }
        }
        return acls;
    }

    /** getfacl writes unusual characters of a file name as backslash and three octal digits. */
    private static String unescape(String name) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (c == '\\' && i + 3 < name.length() && name.substring(i + 1, i + 4).chars().allMatch(d -> d >= '0' && d <= '7')) {
                out.append((char) Integer.parseInt(name.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    private static String run(List<String> command) throws IOException {
        Process process = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                .start();
        CompletableFuture<String> errors = CompletableFuture.supplyAsync(() -> readAll(process.getErrorStream()));
        String output = readAll(process.getInputStream());
        try {
            if (!process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IOException(command.getFirst() + " did not finish within " + TIMEOUT_SECONDS + " s");
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for " + command.getFirst(), e);
        }
        if (process.exitValue() != 0) {
            throw new IOException(Path.of(command.getFirst()).getFileName() + " failed (exit " + process.exitValue() + "): "
                    + errors.join().strip());
        }
        return output;
    }

    private static String readAll(InputStream stream) {
        try (stream) {
            return new String(stream.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return e.getMessage();
        }
    }
}
