package dev.builderd.storage.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobKeyConflictException;
import dev.builderd.storage.blob.BlobNotFoundException;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.blob.WriteMode;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/** {@link FileBlobStore} against the whole {@link BlobStoreContract}, plus what only a filesystem has. */
final class FileBlobStoreContractTest extends BlobStoreContract {

    private static final String TEMP_PREFIX = ".~builderd-";

    @TempDir
    Path temp;

    private Path root;
    private Path outside;

    @Override
    protected BlobStore newStore() throws Exception {
        root = temp.resolve("store");
        outside = Files.createDirectories(temp.resolve("outside"));
        Files.writeString(outside.resolve("secret"), "secret");
        return new FileBlobStore(root);
    }

    @Override
    protected List<String> leftovers() throws IOException {
        try (Stream<Path> files = Files.walk(root)) {
            return files.filter(file -> file.getFileName().toString().startsWith(TEMP_PREFIX))
                    .map(file -> root.relativize(file).toString())
                    .toList();
        }
    }

    /** Found by HostileTenantHttpTest: such a put was a plain IOException, which the API answered with 503. */
    @ParameterizedTest
    @EnumSource(WriteMode.class)
    void aKeyAboveOrBelowAnotherBlobIsAKeyConflict(WriteMode mode) throws Exception {
        store.put(BlobKey.of("a/b"), bytes("below"), 5, mode);
        store.put(BlobKey.of("c"), bytes("above"), 5, mode);

        assertThatThrownBy(() -> store.put(BlobKey.of("a"), bytes("x"), 1, mode)).isInstanceOf(BlobKeyConflictException.class)
                .hasMessageContaining("other blobs' keys start with a/");
        assertThatThrownBy(() -> store.put(BlobKey.of("c/d/e"), bytes("x"), 1, mode)).isInstanceOf(BlobKeyConflictException.class)
                .hasMessageContaining("c is a blob, not a directory");
        Path file = Files.writeString(temp.resolve("adopted"), "x");
        assertThatThrownBy(() -> ((FileBlobStore) store).adopt(BlobKey.of("a"), file)).isInstanceOf(BlobKeyConflictException.class);
        assertThat(readString(BlobKey.of("a/b"))).isEqualTo("below");
        assertThat(readString(BlobKey.of("c"))).isEqualTo("above");
        assertThat(leftovers()).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(strings = {"outside", "inside"})
    void aSymlinkedDirectoryOnTheWayIsRefused(String pointing) throws Exception {
        Path target = pointing.equals("outside") ? outside : Files.createDirectories(root.resolve("real"));
        Files.writeString(target.resolve("secret"), "secret");
        Files.createDirectories(root.resolve("t"));
        Files.createSymbolicLink(root.resolve("t/evil"), target);

        for (String name : List.of("t/evil/planted", "t/evil/sub/planted", "t/evil/secret")) {
            assertThatThrownBy(() -> store.put(BlobKey.of(name), bytes("x"), 1, WriteMode.OVERWRITE))
                    .as(name).isInstanceOf(IOException.class).hasMessageContaining("symbolic link");
        }
        BlobKey secret = BlobKey.of("t/evil/secret");
        assertThatThrownBy(() -> store.open(secret, ByteRange.ALL)).isInstanceOf(IOException.class)
                .isNotInstanceOf(BlobNotFoundException.class).hasMessageContaining(secret.value());
        assertThatThrownBy(() -> store.stat(secret)).isInstanceOf(IOException.class).hasMessageContaining(secret.value());
        assertThatThrownBy(() -> store.delete(secret)).isInstanceOf(IOException.class);

        try (Stream<Path> files = Files.walk(target)) {
            assertThat(files.map(target::relativize).map(Path::toString)).as("nothing written through the link")
                    .containsExactlyInAnyOrder("", "secret");
        }
        assertThat(Files.readString(target.resolve("secret"))).isEqualTo("secret");
        assertThat(keys(store.list("", null))).as("nothing listed through the link")
                .containsExactlyElementsOf(pointing.equals("outside") ? List.of() : List.of("real/secret"));
        assertNoLeftovers();
    }

    @Test
    void aSymlinkAtAKeyIsNoBlobAndIsNotListed() throws Exception {
        Files.createSymbolicLink(root.resolve("link-to-file"), outside.resolve("secret"));
        Files.createSymbolicLink(root.resolve("link-to-dir"), outside);
        store.put(BlobKey.of("real"), bytes("real"), 4, WriteMode.CREATE_NEW);
        BlobKey link = BlobKey.of("link-to-file");

        assertThat(keys(store.list("", null))).containsExactly("real");
        assertThat(keys(store.list("link", null))).isEmpty();
        assertThatThrownBy(() -> store.open(link, ByteRange.ALL)).isInstanceOf(BlobNotFoundException.class);
        assertThat(store.stat(link)).isEmpty();
        assertThat(store.delete(link)).isFalse();
        assertThat(Files.isSymbolicLink(root.resolve("link-to-file"))).isTrue();

        store.put(link, bytes("replaced"), 8, WriteMode.OVERWRITE);

        assertThat(Files.isSymbolicLink(root.resolve("link-to-file"))).as("the link itself is replaced").isFalse();
        assertThat(readString(link)).isEqualTo("replaced");
        assertThat(Files.readString(outside.resolve("secret"))).as("nothing written through the link").isEqualTo("secret");
    }

    @Test
    void sweepRemovesACrashedInstancesUploadsButNotItsOwn() throws Exception {
        Path crashedTop = Files.writeString(root.resolve(TEMP_PREFIX + "0dead0ff-1.partial"), "partial");
        Path crashedDeep = Files.writeString(Files.createDirectories(root.resolve("b/c")).resolve(TEMP_PREFIX + "0dead0ff-2.partial"), "partial");
        FileBlobStore second = new FileBlobStore(root);
        BlobKey key = BlobKey.of("b/c/in-progress");
        CountDownLatch paused = new CountDownLatch(1);
        CountDownLatch resume = new CountDownLatch(1);
        InputStream pausing = new SequenceInputStream(SeededBytes.stream(seed, 1000), new InputStream() {
            @Override
            public int read() throws IOException {
                paused.countDown();
                try {
                    resume.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted", e);
                }
                return -1;
            }
        });
        CompletableFuture<BlobInfo> upload = CompletableFuture.supplyAsync(() -> {
            try {
                return second.put(key, pausing, 1000, WriteMode.CREATE_NEW);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        try {
            assertThat(paused.await(30, TimeUnit.SECONDS)).as("upload started").isTrue();
            assertThat(leftovers()).hasSize(3);

            assertThat(second.sweepAbandonedUploads()).isEqualTo(2);

            assertThat(crashedTop).doesNotExist();
            assertThat(crashedDeep).doesNotExist();
            assertThat(leftovers()).as("the sweeping instance's own upload").singleElement().asString()
                    .startsWith("b/c/" + TEMP_PREFIX).doesNotContain("0dead0ff");
        } finally {
            resume.countDown();
        }
        assertThat(upload.get(30, TimeUnit.SECONDS).size()).isEqualTo(1000);
        assertThat(SeededBytes.sha256(store.open(key, ByteRange.ALL))).as(seedNote("swept-around upload"))
                .isEqualTo(SeededBytes.sha256(seed, 1000));
        assertNoLeftovers();
        assertThat(second.sweepAbandonedUploads()).isZero();
    }

    @ParameterizedTest
    @EnumSource(WriteMode.class)
    void directoriesAre0700AndFiles0600(WriteMode mode) throws Exception {
        store.put(BlobKey.of("m/n/o"), bytes("o"), 1, mode);
        store.put(BlobKey.of("m/p"), bytes("p"), 1, mode);

        for (Path directory : List.of(root, root.resolve("m"), root.resolve("m/n"))) {
            assertThat(mode(directory)).as(directory.toString()).isEqualTo("rwx------");
        }
        for (Path file : List.of(root.resolve("m/n/o"), root.resolve("m/p"))) {
            assertThat(mode(file)).as(file.toString()).isEqualTo("rw-------");
        }
    }

    @Test
    void adoptMovesAFileInAndReplacesTheBlob() throws Exception {
        FileBlobStore files = (FileBlobStore) store;
        BlobKey key = BlobKey.of("tenants/acme/builds/b1/rootfs/filesystem.ext4");
        store.put(key, bytes("old"), 3, WriteMode.CREATE_NEW);
        Path source = Files.createDirectories(temp.resolve("workspace/temp")).resolve("filesystem.ext4");
        int size = 300_000;
        try (InputStream data = SeededBytes.stream(seed, size)) {
            Files.copy(data, source);
        }
        Files.setPosixFilePermissions(source, PosixFilePermissions.fromString("rw-r--r--"));

        BlobInfo info = files.adopt(key, source);

        assertThat(info.key()).isEqualTo(key);
        assertThat(info.size()).isEqualTo(size);
        assertThat(source).as("the source is moved, not copied").doesNotExist();
        assertThat(SeededBytes.sha256(store.open(key, ByteRange.ALL))).as(seedNote("adopted content"))
                .isEqualTo(SeededBytes.sha256(seed, size));
        assertThat(store.stat(key)).get().extracting(BlobInfo::size).isEqualTo((long) size);
        assertThat(mode(root.resolve(key.value()))).isEqualTo("rw-------");
        assertThat(keys(store.list("tenants/", null))).containsExactly(key.value());
    }

    @ParameterizedTest
    @ValueSource(strings = {TEMP_PREFIX + "x", TEMP_PREFIX + "1-1.partial", "a/" + TEMP_PREFIX + "d/b"})
    void namesReservedForTemporaryFilesAreNeverBlobs(String name) throws Exception {
        BlobKey key = BlobKey.of(name);
        Path planted = root.resolve(name);
        Files.createDirectories(planted.getParent());
        Files.writeString(planted, "someone's upload in progress");

        assertThatThrownBy(() -> store.put(key, bytes("x"), 1, WriteMode.OVERWRITE))
                .isInstanceOf(IOException.class).hasMessageContaining("reserves");
        assertThat(store.stat(key)).isEmpty();
        assertThatThrownBy(() -> store.open(key, ByteRange.ALL)).isInstanceOf(BlobNotFoundException.class);
        assertThat(store.delete(key)).isFalse();
        assertThat(Files.readString(planted)).isEqualTo("someone's upload in progress");
    }

    private static String mode(Path path) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(path, LinkOption.NOFOLLOW_LINKS));
    }
}
