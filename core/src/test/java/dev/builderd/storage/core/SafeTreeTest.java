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

    @Test
    void takeHoldsARegularFileAndPutsItBack() throws IOException {
        Path file = Files.writeString(Files.createDirectories(root.resolve("builds/b/temp/d")).resolve("fs.ext4"), "mine");

        try (SafeTree.Taken taken = SafeTree.take(root, root.resolve("builds/b"), file)) {
            assertThat(file).doesNotExist();
            assertThat(taken.path().getParent()).isEqualTo(root.resolve("builds/b"));
            assertThat(taken.path()).hasContent("mine");
        }
        assertThat(file).hasContent("mine");

        try (SafeTree.Taken taken = SafeTree.take(root, root.resolve("builds/b"), file)) {
            Files.move(taken.path(), root.resolve("published"));
        }
        assertThat(file).doesNotExist();
        assertThat(root.resolve("published")).hasContent("mine");
    }

    @Test
    void takeRefusesLinksHardLinksAndLinksOnTheWayAndLeavesThemWhereTheyWere() throws IOException {
        Path temp = Files.createDirectories(root.resolve("builds/b/temp"));
        Files.createSymbolicLink(temp.resolve("link"), precious);
        Files.createLink(temp.resolve("hard"), precious);
        Files.createSymbolicLink(temp.resolve("dir"), outside.resolve("etc"));

        assertThatThrownBy(() -> SafeTree.take(root, root.resolve("builds/b"), temp.resolve("link")))
                .isInstanceOf(SafeTree.LinkRefusedException.class).hasMessageContaining("symbolic link");
        assertThatThrownBy(() -> SafeTree.take(root, root.resolve("builds/b"), temp.resolve("hard")))
                .isInstanceOf(SafeTree.LinkRefusedException.class).hasMessageContaining("hard link");
        assertThatThrownBy(() -> SafeTree.take(root, root.resolve("builds/b"), temp.resolve("dir/passwd")))
                .isInstanceOf(SafeTree.LinkRefusedException.class).hasMessageContaining("dir is a symbolic link");

        assertThat(Files.isSymbolicLink(temp.resolve("link"))).isTrue();
        assertThat(temp.resolve("hard")).hasContent("keep me");
        assertThat(precious).hasContent("keep me");
        try (var held = Files.list(root.resolve("builds/b"))) {
            assertThat(held).containsExactly(temp);
        }
    }
}
