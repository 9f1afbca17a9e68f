package dev.builderd.storage.server.mount;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

/**
 * A network filesystem that the data root must be on: what the specification's {@code nfs} and
 * {@code iscsi} backends mean. Each can say whether a mount table shows the data root on it, and
 * which command would mount it.
 */
public sealed interface NetworkMount {

    /** Options the kernel accepts but never lists in the mount table, so they cannot be verified. */
    Set<String> UNLISTED_NFS_OPTIONS = Set.of("intr", "nointr", "rw");

    /** Why {@code dataRoot} is not on this mount, or empty when it is. */
    Optional<String> problemWith(MountTable table, Path dataRoot) throws IOException;

    /** The command that mounts it at {@code dataRoot}, run by the daemon when it may. */
    List<List<String>> mountCommands(Path dataRoot) throws IOException;

    /** {@code server:path} mounted over NFS with at least {@code options}. */
    record Nfs(String server, String exportPath, List<String> options) implements NetworkMount {

        public String source() {
            return server + ":" + exportPath;
        }

        @Override
        public Optional<String> problemWith(MountTable table, Path dataRoot) {
            Optional<MountTable.Mount> found = table.mountOf(dataRoot);
            if (found.isEmpty() || !found.get().fsType().startsWith("nfs")) {
                return Optional.of("the data root " + dataRoot + " is not on an NFS mount (it is on "
                        + found.map(m -> m.fsType() + " " + m.source() + " at " + m.mountPoint()).orElse("nothing") + ")");
            }
            MountTable.Mount mount = found.get();
            if (!stripSlash(mount.source()).equals(stripSlash(source()))) {
                return Optional.of("the data root " + dataRoot + " is on NFS " + mount.source() + ", not " + source());
            }
            List<String> missing = options.stream()
                    .filter(option -> !UNLISTED_NFS_OPTIONS.contains(option) && !mount.hasOption(option)).toList();
            if (!missing.isEmpty()) {
                return Optional.of("the NFS mount " + mount.source() + " at " + mount.mountPoint()
                        + " lacks the options " + String.join(",", missing) + " (it has " + String.join(",", mount.options()) + ")");
            }
            return Optional.empty();
        }

        @Override
        public List<List<String>> mountCommands(Path dataRoot) {
            List<String> command = new ArrayList<>(List.of("mount", "-t", "nfs4"));
            if (!options.isEmpty()) {
                command.addAll(List.of("-o", String.join(",", options)));
            }
            command.addAll(List.of(source(), dataRoot.toString()));
            return List.of(command);
        }

        private static String stripSlash(String source) {
            return source.endsWith("/") && source.length() > 1 ? source.substring(0, source.length() - 1) : source;
        }
    }

    /**
     * The block device of iSCSI {@code target} at {@code portal}, carrying {@code filesystem}. The
     * device is found under {@code byPathDirectory} (normally {@code /dev/disk/by-path}), where
     * udev names it {@code ip-<portal>-iscsi-<target>-lun-<n>}.
     */
    record Iscsi(String target, String portal, String filesystem, Path byPathDirectory) implements NetworkMount {

        /** The device udev created for the target, resolved to the real device node. */
        public Optional<Path> device() throws IOException {
            if (!Files.isDirectory(byPathDirectory)) {
                return Optional.empty();
            }
            String prefix = "ip-" + portal + "-iscsi-" + target + "-lun-";
            try (Stream<Path> entries = Files.list(byPathDirectory)) {
                Optional<Path> link = entries.filter(p -> p.getFileName().toString().startsWith(prefix)).sorted().findFirst();
                return link.isPresent() ? Optional.of(link.get().toRealPath()) : Optional.empty();
            }
        }

        @Override
        public Optional<String> problemWith(MountTable table, Path dataRoot) throws IOException {
            Optional<Path> device = device();
            if (device.isEmpty()) {
                return Optional.of("no block device for iSCSI target " + target + " at " + portal + " under " + byPathDirectory
                        + " (not logged in to the target?)");
            }
            Optional<MountTable.Mount> found = table.mountOf(dataRoot);
            if (found.isEmpty() || !Path.of(found.get().source()).equals(device.get())) {
                return Optional.of("the data root " + dataRoot + " is not on the iSCSI device " + device.get() + " (it is on "
                        + found.map(m -> m.source() + " at " + m.mountPoint()).orElse("nothing") + ")");
            }
            if (!found.get().fsType().equals(filesystem)) {
                return Optional.of("the iSCSI device " + device.get() + " carries " + found.get().fsType() + ", not " + filesystem);
            }
            return Optional.empty();
        }

        @Override
        public List<List<String>> mountCommands(Path dataRoot) throws IOException {
            List<List<String>> commands = new ArrayList<>();
            if (device().isEmpty()) {
                commands.add(List.of("iscsiadm", "-m", "node", "-T", target, "-p", portal, "--login"));
                commands.add(List.of("udevadm", "settle"));
            }
            String prefix = byPathDirectory.resolve("ip-" + portal + "-iscsi-" + target + "-lun-0").toString();
            commands.add(List.of("mount", "-t", filesystem, device().map(Path::toString).orElse(prefix), dataRoot.toString()));
            return commands;
        }
    }
}
