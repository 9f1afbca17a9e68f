package dev.builderd.storage.server.mount;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** The kernel's table of mounted filesystems, in the format of {@code /proc/self/mounts}. */
public record MountTable(List<Mount> mounts) {

    /** One mounted filesystem. */
    public record Mount(String source, Path mountPoint, String fsType, Set<String> options) {
        /** Whether the options include {@code option} ({@code key=value} or a bare flag). */
        public boolean hasOption(String option) {
            return options.contains(option);
        }
    }

    public MountTable {
        mounts = List.copyOf(mounts);
    }

    /** Reads the table of this process's mount namespace. */
    public static MountTable current() throws IOException {
        return parse(Files.readString(Path.of("/proc/self/mounts")));
    }

    /** Parses the text of {@code /proc/mounts} (fields separated by spaces, with octal escapes). */
    public static MountTable parse(String text) {
        List<Mount> mounts = new ArrayList<>();
        for (String line : text.split("\n")) {
            String[] fields = line.strip().split("\\s+");
            if (fields.length < 4) {
                continue;
            }
            mounts.add(new Mount(unescape(fields[0]), Path.of(unescape(fields[1])), fields[2],
                    Set.of(fields[3].split(","))));
        }
        return new MountTable(mounts);
    }

    /** The mount that holds {@code path} (the last mounted one with the longest mount point that contains it). */
    public Optional<Mount> mountOf(Path path) {
        Path absolute = path.toAbsolutePath().normalize();
        Mount best = null;
        for (Mount mount : mounts) {
            if (absolute.startsWith(mount.mountPoint())
                    && (best == null || mount.mountPoint().getNameCount() >= best.mountPoint().getNameCount())) {
                best = mount;
            }
        }
        return Optional.ofNullable(best);
    }

    private static String unescape(String field) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < field.length(); i++) {
            char c = field.charAt(i);
            if (c == '\\' && i + 3 < field.length() && field.substring(i + 1, i + 4).matches("[0-7]{3}")) {
                out.append((char) Integer.parseInt(field.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }
}
