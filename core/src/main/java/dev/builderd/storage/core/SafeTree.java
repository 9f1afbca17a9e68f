package dev.builderd.storage.core;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SecureDirectoryStream;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;

/**
 * Deletes directory trees that untrusted build processes could write into, without ever
 * following a symbolic link: a link is removed, never its target. Deletion goes through
 * {@link SecureDirectoryStream}, relative to open directory handles, so a directory swapped for
 * a link while the walk runs cannot redirect it. Also the one check, for any code that touches
 * files in those trees, that no link lies between a trusted root and a directory.
 */
final class SafeTree {

    private SafeTree() {
    }

    /**
     * Deletes {@code path} (a file, a link, or a directory and everything below it). {@code root}
     * is a directory the service created and trusts; every directory between it and {@code path}
     * must be a real directory, or nothing is deleted and an {@link IOException} says why. A
     * missing {@code path} is not an error.
     */
    static void delete(Path root, Path path) throws IOException {
        try (SecureDirectoryStream<Path> parent = open(root, path.getParent())) {
            deleteEntry(parent, path.getFileName());
        } catch (NoSuchFileException e) {
            // Gone already: the wanted outcome.
        } catch (LinkRefusedException e) {
            throw new IOException("refusing to delete " + path + ": " + e.getMessage(), e);
        }
    }

    /**
     * Whether {@code directory} is reached from {@code root} through real directories only: no
     * symbolic link anywhere between them (the root itself is trusted).
     *
     * @throws NoSuchFileException if {@code directory} does not exist
     */
    static boolean isRealDirectoryBelow(Path root, Path directory) throws IOException {
        return directory.toRealPath().equals(root.toRealPath().resolve(root.relativize(directory)));
    }

    /**
     * Opens {@code directory} (below or equal to the trusted {@code root}) for work relative to its
     * handle, reaching it one directory at a time, each opened without following a link. A link
     * anywhere on the way, planted before or while the walk runs, is refused, never followed.
     *
     * @throws LinkRefusedException a component on the way is a symbolic link or not a directory
     * @throws NoSuchFileException a component is missing
     */
    static SecureDirectoryStream<Path> open(Path root, Path directory) throws IOException {
        DirectoryStream<Path> opened = Files.newDirectoryStream(root);
        if (!(opened instanceof SecureDirectoryStream<Path> rootStream)) {
            opened.close();
            throw new IOException("this platform cannot open " + directory + " without following links");
        }
        try (rootStream) {
            return open(rootStream, root.relativize(directory));
        }
    }

    private static SecureDirectoryStream<Path> descend(SecureDirectoryStream<Path> directory, Path name) throws IOException {
        try {
            return directory.newDirectoryStream(name, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            throw e;
        } catch (java.nio.file.FileSystemException e) {
            // ELOOP (a link) or ENOTDIR: either way, not a directory to enter.
            throw new LinkRefusedException(name + " is a symbolic link or not a directory");
        }
    }

    /**
     * Takes the file {@code file}, in a tree that untrusted processes write into, out of their
     * reach: renames it, relative to directory handles opened as {@link #open} does, into {@code
     * holding} (a directory between {@code root} and the file that those processes cannot write),
     * and checks there that it is a regular file with no other hard link. Swapping a directory on
     * the way for a link, at any moment, cannot make this take any other file. Closing the result
     * puts the file back where it was, unless it was moved away meanwhile.
     *
     * @throws LinkRefusedException a directory on the way is a link, or the file is a link, not a
     *     regular file, or has other hard links (it is left where it was)
     * @throws NoSuchFileException the file or a directory on the way is missing
     */
    static Taken take(Path root, Path holding, Path file) throws IOException {
        SecureDirectoryStream<Path> hold = open(root, holding);
        SecureDirectoryStream<Path> source = null;
        try {
            source = open(hold, holding.relativize(file.getParent()));
            Path name = file.getFileName();
            Path held = Path.of(".taken-" + java.util.UUID.randomUUID());
            source.move(name, hold, held);
            Taken taken = new Taken(hold, held, holding.resolve(held), source, name);
            try {
                BasicFileAttributes attributes = hold.getFileAttributeView(held, BasicFileAttributeView.class, LinkOption.NOFOLLOW_LINKS)
                        .readAttributes();
                if (!attributes.isRegularFile()) {
                    throw new LinkRefusedException(attributes.isSymbolicLink() ? "it is a symbolic link" : "it is not a regular file");
                }
                // The path of the held file runs through trusted directories only.
                if (((Number) Files.getAttribute(taken.path(), "unix:nlink", LinkOption.NOFOLLOW_LINKS)).intValue() != 1) {
                    throw new LinkRefusedException("it has other hard links");
                }
                return taken;
            } catch (IOException | RuntimeException e) {
                taken.close();
                throw e;
            }
        } catch (IOException | RuntimeException e) {
            if (source != null) {
                source.close();
            }
            hold.close();
            throw e;
        }
    }

    /** Opens the directory {@code relative} to {@code from} as {@link #open(Path, Path)} does; {@code from} stays open. */
    private static SecureDirectoryStream<Path> open(SecureDirectoryStream<Path> from, Path relative) throws IOException {
        SecureDirectoryStream<Path> current = descend(from, Path.of("."));
        try {
            for (Path name : relative) {
                if (name.toString().isEmpty()) {
                    continue;
                }
                SecureDirectoryStream<Path> next = descend(current, name);
                current.close();
                current = next;
            }
            return current;
        } catch (IOException | RuntimeException e) {
            current.close();
            throw e;
        }
    }

    /**
     * A file taken out of an untrusted tree: {@link #path()} names it in the holding directory
     * until it is moved away; {@link #close()} puts it back if it is still held.
     */
    static final class Taken implements AutoCloseable {
        private final SecureDirectoryStream<Path> hold;
        private final Path held;
        private final Path path;
        private final SecureDirectoryStream<Path> source;
        private final Path name;

        private Taken(SecureDirectoryStream<Path> hold, Path held, Path path, SecureDirectoryStream<Path> source, Path name) {
            this.hold = hold;
            this.held = held;
            this.path = path;
            this.source = source;
            this.name = name;
        }

        /** The file's path while it is held: through trusted directories only. */
        Path path() {
            return path;
        }

        @Override
        public void close() throws IOException {
            try (hold; source) {
                hold.move(held, source, name);
            } catch (NoSuchFileException consumed) {
                // Moved away (published): nothing to put back.
            }
        }
    }

    /** A symbolic link, or something else that is not what it must be, lies in the way. */
    static final class LinkRefusedException extends IOException {
        LinkRefusedException(String message) {
            super(message);
        }
    }

    private static void deleteEntry(SecureDirectoryStream<Path> directory, Path name) throws IOException {
        BasicFileAttributes attributes;
        try {
            attributes = directory.getFileAttributeView(name, BasicFileAttributeView.class, LinkOption.NOFOLLOW_LINKS)
                    .readAttributes();
        } catch (NoSuchFileException e) {
            return;
        }
        if (!attributes.isDirectory()) {
            deleteQuietlyIfGone(() -> directory.deleteFile(name));
            return;
        }
        try (SecureDirectoryStream<Path> child = directory.newDirectoryStream(name, LinkOption.NOFOLLOW_LINKS)) {
            List<Path> names = new ArrayList<>();
            for (Path entry : child) {
                names.add(entry.getFileName());
            }
            for (Path entry : names) {
                deleteEntry(child, entry);
            }
        }
        deleteQuietlyIfGone(() -> directory.deleteDirectory(name));
    }

    private interface Deletion {
        void run() throws IOException;
    }

    private static void deleteQuietlyIfGone(Deletion deletion) throws IOException {
        try {
            deletion.run();
        } catch (NoSuchFileException e) {
            // Removed concurrently; fine.
        }
    }
}
