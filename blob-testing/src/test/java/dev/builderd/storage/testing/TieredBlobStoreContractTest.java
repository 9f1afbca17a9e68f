package dev.builderd.storage.testing;

import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.blob.MemoryBlobStore;
import dev.builderd.storage.blob.TieredBlobStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link TieredBlobStore} against the whole {@link BlobStoreContract}: a memory tier, a disk tier
 * and a {@link MemoryBlobStore} as the remote; encrypted on top (as the daemon stacks it); and
 * with the memory tier alone in front of a {@link FileBlobStore} (a local cache backend).
 */
final class TieredBlobStoreContractTest extends BlobStoreContract {

    /** Small tiers, so that the contract's blobs cross the memory tier's entry bound and evict. */
    static final TieredBlobStore.Settings SETTINGS = new TieredBlobStore.Settings(3L * MIB, MIB, Optional.empty(),
            24L * MIB, Duration.ofSeconds(30));

    @TempDir
    Path temp;

    /** Nested contracts create a store of the outer class too: each store gets its own disk tier. */
    private Path disk;

    @Override
    protected BlobStore newStore() throws IOException {
        disk = Files.createTempDirectory(temp, "disk-tier");
        return new TieredBlobStore(new MemoryBlobStore(), withDisk(disk));
    }

    static TieredBlobStore.Settings withDisk(Path directory) {
        return new TieredBlobStore.Settings(SETTINGS.memoryBytes(), SETTINGS.memoryMaxEntryBytes(), Optional.of(directory),
                SETTINGS.diskBytes(), SETTINGS.remoteTimeout());
    }

    /** Staging files of the disk tier: none may outlive the read or write that made them. */
    @Override
    protected List<String> leftovers() throws IOException {
        try (Stream<Path> files = Files.walk(disk)) {
            return files.filter(file -> file.getFileName().toString().endsWith(".partial"))
                    .map(file -> disk.relativize(file).toString()).toList();
        }
    }

    @Nested
    class Encrypted extends EncryptedContract {
        @Override
        protected BlobStoreContract plain() {
            return TieredBlobStoreContractTest.this;
        }
    }

    /** A local cache backend: the memory tier in front of the filesystem, no disk tier. */
    @Nested
    class MemoryOverFilesystem extends BlobStoreContract {
        @Override
        protected BlobStore newStore() throws IOException {
            return new TieredBlobStore(new FileBlobStore(temp.resolve("files")), SETTINGS.withoutDisk());
        }
    }
}
