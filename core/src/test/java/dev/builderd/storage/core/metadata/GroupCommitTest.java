package dev.builderd.storage.core.metadata;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** SQLite's group commit under many concurrent callers: each one's outcome is its own, and none is left waiting. */
class GroupCommitTest {

    @TempDir
    Path dir;
    MetadataStore metadata;

    @BeforeEach
    void open() {
        metadata = MetadataStore.open(MetadataLocation.sqlite(dir.resolve("builderd.db")));
        metadata.inTransaction(h -> h.execute("CREATE TABLE group_commit_test (caller INTEGER, n INTEGER)"));
    }

    @AfterEach
    void close() {
        metadata.close();
    }

    @Test
    void manyConcurrentCallersEachGetTheirOwnOutcomeAndAFailureRollsBackOnlyItsOwn() throws Exception {
        int callers = 64;
        int each = 25;
        List<Future<Integer>> futures = new ArrayList<>();
        try (ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int c = 0; c < callers; c++) {
                int caller = c;
                futures.add(threads.submit(() -> {
                    int committed = 0;
                    for (int n = 0; n < each; n++) {
                        int at = n;
                        boolean fails = (caller + n) % 7 == 0;
                        if (fails) {
                            assertThatThrownBy(() -> metadata.inTransaction(h -> {
                                h.execute("INSERT INTO group_commit_test VALUES (?, ?)", caller, at);
                                throw new IllegalStateException("caller " + caller + " fails");
                            })).isInstanceOf(IllegalStateException.class).hasMessage("caller " + caller + " fails");
                        } else {
                            int inserted = metadata.inTransaction(h -> h.execute("INSERT INTO group_commit_test VALUES (?, ?)", caller, at));
                            assertThat(inserted).isEqualTo(1);
                            committed++;
                        }
                        // What a caller committed is there when inTransaction returns.
                        int visible = metadata.read(h -> h.createQuery("SELECT COUNT(*) FROM group_commit_test WHERE caller = :c")
                                .bind("c", caller).mapTo(Integer.class).one());
                        assertThat(visible).isEqualTo(committed);
                    }
                    return committed;
                }));
            }
        }
        int expected = 0;
        for (Future<Integer> future : futures) {
            expected += future.get();
        }
        int rows = metadata.read(h -> h.createQuery("SELECT COUNT(*) FROM group_commit_test").mapTo(Integer.class).one());
        assertThat(rows).isEqualTo(expected).isLessThan(callers * each);
    }
}
