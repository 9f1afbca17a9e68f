package dev.builderd.storage.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.blob.BackendUnavailableException;
import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobNotFoundException;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.CircuitBreakingBlobStore;
import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.blob.MemoryBlobStore;
import dev.builderd.storage.blob.ReplicatingBlobStore;
import dev.builderd.storage.blob.ReplicationJournal;
import dev.builderd.storage.blob.WriteMode;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReplicatingBlobStoreTest {

    /** One note of the journal, with whether the primary held the key when it was made. */
    record Note(String key, long bytes, boolean primaryHadIt) {
    }

    /** A journal that remembers its notes and what the primary held at each. */
    static final class RecordingJournal implements ReplicationJournal {
        final List<Note> notes = new CopyOnWriteArrayList<>();
        BlobStore primary;
        boolean failing;

        @Override
        public void changing(BlobKey key, long bytes) throws IOException {
            if (failing) {
                throw new IOException("the journal is down");
            }
            notes.add(new Note(key.value(), bytes, primary.stat(key).isPresent()));
        }
    }

    /** The wrapper keeps the whole contract over a file primary (every key replicated). */
    @Nested
    class Contract extends BlobStoreContract {
        @TempDir
        Path root;

        @Override
        protected BlobStore newStore() throws IOException {
            RecordingJournal journal = new RecordingJournal();
            journal.primary = new FileBlobStore(root.resolve("primary"));
            return new ReplicatingBlobStore(journal.primary, new MemoryBlobStore(), key -> true, journal);
        }
    }

    private final MemoryBlobStore primary = new MemoryBlobStore();
    private final MemoryBlobStore secondary = new MemoryBlobStore();
    private final RecordingJournal journal = new RecordingJournal();
    private final ReplicatingBlobStore store;

    ReplicatingBlobStoreTest() {
        journal.primary = primary;
        store = new ReplicatingBlobStore(primary, secondary, key -> key.value().startsWith("tenants/"), journal);
    }

    private static InputStream bytes(String text) {
        return new ByteArrayInputStream(text.getBytes());
    }

    private static String read(BlobStore store, String key) throws IOException {
        try (InputStream in = store.open(BlobKey.of(key), ByteRange.ALL)) {
            return new String(in.readAllBytes());
        }
    }

    @Test
    void aWriteIsNotedBeforeAndAfterItReachesThePrimaryAndNeverWrittenToTheSecondary() throws IOException {
        store.put(BlobKey.of("tenants/a/x"), bytes("hello"), 5, WriteMode.OVERWRITE);

        assertThat(journal.notes).containsExactly(new Note("tenants/a/x", 5, false), new Note("tenants/a/x", 5, true));
        assertThat(secondary.stat(BlobKey.of("tenants/a/x"))).isEmpty();
        assertThat(read(primary, "tenants/a/x")).isEqualTo("hello");
    }

    @Test
    void aDeleteIsNotedBeforeAndAfter() throws IOException {
        primary.put(BlobKey.of("tenants/a/x"), bytes("hello"), 5, WriteMode.OVERWRITE);

        assertThat(store.delete(BlobKey.of("tenants/a/x"))).isTrue();
        assertThat(store.deleteAll(List.of(BlobKey.of("tenants/a/y"), BlobKey.of("global/z")))).isZero();

        assertThat(journal.notes).containsExactly(new Note("tenants/a/x", 0, true), new Note("tenants/a/x", 0, false),
                new Note("tenants/a/y", 0, false), new Note("tenants/a/y", 0, false));
    }

    @Test
    void keysThePredicateRefusesAreNotNoted() throws IOException {
        store.put(BlobKey.of("global/health/probe"), bytes("x"), 1, WriteMode.OVERWRITE);
        store.delete(BlobKey.of("global/health/probe"));

        assertThat(journal.notes).isEmpty();
    }

    @Test
    void whenTheJournalFailsThePrimaryIsNotChanged() {
        journal.failing = true;

        assertThatThrownBy(() -> store.put(BlobKey.of("tenants/a/x"), bytes("hello"), 5, WriteMode.OVERWRITE))
                .hasMessageContaining("the journal is down");
        assertThat(primary.list("", null).hasNext()).isFalse();
    }

    @Test
    void readsOfWhatTheReplicaHoldsFallBackToItWhileThePrimaryFailsFast() throws IOException {
        CircuitBreakingBlobStoreTest.FlakyStore failing = new CircuitBreakingBlobStoreTest.FlakyStore();
        CircuitBreakingBlobStore breaker = new CircuitBreakingBlobStore(failing, 1, Duration.ofMinutes(5), new MovableClock());
        ReplicatingBlobStore replicating = new ReplicatingBlobStore(breaker, secondary, key -> true, journal);
        failing.healthy.put(BlobKey.of("tenants/a/x"), bytes("primary"), 7, WriteMode.OVERWRITE);
        secondary.put(BlobKey.of("tenants/a/x"), bytes("replica"), 7, WriteMode.OVERWRITE);
        assertThat(read(replicating, "tenants/a/x")).isEqualTo("primary");

        failing.down.set(true);
        assertThatThrownBy(() -> replicating.stat(BlobKey.of("tenants/a/x"))).as("a plain failure does not fall back")
                .isNotInstanceOf(BackendUnavailableException.class).hasMessageContaining("connection refused by backend");
        assertThat(breaker.state().open()).isTrue();

        assertThat(read(replicating, "tenants/a/x")).isEqualTo("replica");
        assertThat(replicating.stat(BlobKey.of("tenants/a/x"))).get().extracting(BlobInfo::size).isEqualTo(7L);
        assertThatThrownBy(() -> replicating.open(BlobKey.of("tenants/a/missing"), ByteRange.ALL))
                .as("the replica's lack of a blob is no proof the primary lacks it")
                .isInstanceOf(BackendUnavailableException.class).isNotInstanceOf(BlobNotFoundException.class);
        assertThatThrownBy(() -> replicating.stat(BlobKey.of("tenants/a/missing"))).isInstanceOf(BackendUnavailableException.class);
        assertThatThrownBy(() -> replicating.list("tenants/", null)).as("listings never come from the replica")
                .isInstanceOf(BackendUnavailableException.class);
        assertThatThrownBy(() -> replicating.put(BlobKey.of("tenants/a/y"), bytes("y"), 1, WriteMode.OVERWRITE))
                .as("writes never fall back").isInstanceOf(BackendUnavailableException.class);
        assertThat(secondary.stat(BlobKey.of("tenants/a/y"))).isEmpty();
    }

    @Test
    void aFilePrimaryKeepsItsLocalFastPaths(@TempDir Path root) throws IOException {
        FileBlobStore files = new FileBlobStore(root.resolve("primary"));
        journal.primary = files;
        ReplicatingBlobStore replicating = new ReplicatingBlobStore(files, secondary, key -> true, journal);
        Path outside = Files.writeString(root.resolve("primary").resolve("incoming"), "adopted");

        BlobInfo adopted = replicating.adopt(BlobKey.of("tenants/a/img"), outside);

        assertThat(adopted.size()).isEqualTo(7);
        assertThat(journal.notes).containsExactly(new Note("tenants/a/img", 0, false), new Note("tenants/a/img", 7, true));
        try (var channel = replicating.openChannel(BlobKey.of("tenants/a/img")).orElseThrow()) {
            assertThat(channel.size()).isEqualTo(7);
        }
    }
}
