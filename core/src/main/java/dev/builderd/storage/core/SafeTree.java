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
        Path parent = path.getParent();
        try {
            if (!isRealDirectoryBelow(root, parent)) {
                throw new IOException("refusing to delete " + path + ": a directory on its path is a symbolic link");
            }
        } catch (NoSuchFileException e) {
            return;
        }
        try (DirectoryStream<Path> stream = Files.newDirectoryStream(parent)) {
            if (!(stream instanceof SecureDirectoryStream<Path> secure)) {
                throw new IOException("this platform cannot delete " + path + " without following links");
            }
            deleteEntry(secure, path.getFileName());
        } catch (NoSuchFileException e) {
            // Gone already: the wanted outcome.
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
