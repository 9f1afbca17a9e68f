package dev.builderd.storage.testing;

import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.FileBlobStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;

/** {@link FileBlobStore} against the whole {@link BlobStoreContract}, plus what only a filesystem has. */
final class FileBlobStoreContractTest extends BlobStoreContract {

    private static final String TEMP_PREFIX = ".~builderd-";

    @TempDir
    Path temp;

    private Path root;

    @Override
    protected BlobStore newStore() throws Exception {
        root = temp.resolve("store");
        return new FileBlobStore(root);
    }

    @Override
    protected List<String> leftovers() throws Exception {
        try (Stream<Path> files = Files.walk(root)) {
            return files.filter(file -> file.getFileName().toString().startsWith(TEMP_PREFIX))
                    .map(file -> root.relativize(file).toString())
                    .toList();
        }
    }
}
