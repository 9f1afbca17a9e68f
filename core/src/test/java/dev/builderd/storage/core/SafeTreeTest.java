package dev.builderd.storage.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafeTreeTest {

    @TempDir
    Path root;
    @TempDir
    Path outside;
    Path precious;

    @BeforeEach
    void plantOutsideFile() throws IOException {
        precious = Files.writeString(Files.createDirectories(outside.resolve("etc")).resolve("passwd"), "keep me");
    }

    @Test
    void deletesATreeButOnlyTheLinksInIt() throws IOException {
        Path workspace = Files.createDirectories(root.resolve("builds/b/workspace/src/deep"));
        Files.writeString(workspace.resolve("file"), "x");
        Files.createSymbolicLink(root.resolve("builds/b/workspace/escape-dir"), outside.resolve("etc"));
        Files.createSymbolicLink(root.resolve("builds/b/workspace/src/escape-file"), precious);

        SafeTree.delete(root, root.resolve("builds/b/workspace"));

        assertThat(root.resolve("builds/b/workspace")).doesNotExist();
        assertThat(root.resolve("builds/b")).isDirectory();
        assertThat(precious).hasContent("keep me");
    }

    @Test
    void aDirectoryReplacedByALinkLosesOnlyTheLink() throws IOException {
        Files.createDirectories(root.resolve("builds/b"));
        Files.createSymbolicLink(root.resolve("builds/b/temp"), outside.resolve("etc"));

        SafeTree.delete(root, root.resolve("builds/b/temp"));

        assertThat(root.resolve("builds/b/temp")).doesNotExist();
        assertThat(precious).hasContent("keep me");
    }

    @Test
    void refusesWhenALinkIsOnTheWayToTheTree() throws IOException {
        Files.createDirectories(root.resolve("builds"));
        Files.createSymbolicLink(root.resolve("builds/b"), outside);

        assertThatThrownBy(() -> SafeTree.delete(root, root.resolve("builds/b/etc")))
                .isInstanceOf(IOException.class).hasMessageContaining("symbolic link");
        assertThat(precious).hasContent("keep me");
    }

    @Test
    void aMissingPathIsNotAnError() throws IOException {
        SafeTree.delete(root, root.resolve("builds/none/temp"));
        assertThat(root.resolve("builds")).doesNotExist();
    }
}
