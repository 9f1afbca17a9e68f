package dev.builderd.storage.core.metadata;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.ReentrantLock;
import org.jdbi.v3.core.Handle;
import org.jdbi.v3.core.HandleCallback;
import org.jdbi.v3.core.Jdbi;

/**
 * Group commit for a single-writer database (SQLite): transactions that callers submit while
 * another batch is committing run together in the next transaction, each inside its own
 * savepoint, and share its one durable commit (one fsync) instead of one each. A callback that
 * throws has its own changes rolled back and gets its exception; the others commit. Every caller
 * returns only after the commit that holds its changes. Callbacks must not start another
 * transaction of this store (none do: the writer has one connection).
 */
final class GroupCommit {

    private static final class Pending<T> {
        final HandleCallback<T, RuntimeException> callback;
        volatile boolean done;
        T result;
        RuntimeException failure;

        Pending(HandleCallback<T, RuntimeException> callback) {
            this.callback = callback;
        }

        void runIn(Handle handle, String savepoint) {
            handle.savepoint(savepoint);
            try {
                result = callback.withHandle(handle);
                handle.releaseSavepoint(savepoint);
            } catch (RuntimeException e) {
                // Rolled back to, the savepoint stays open until the commit, harmlessly.
                handle.rollbackToSavepoint(savepoint);
                failure = e;
            }
        }
    }

    private final Jdbi writes;
    private final ConcurrentLinkedQueue<Pending<?>> queue = new ConcurrentLinkedQueue<>();
    private final ReentrantLock committing = new ReentrantLock();

    GroupCommit(Jdbi writes) {
        this.writes = writes;
    }

    <T> T inTransaction(HandleCallback<T, RuntimeException> callback) {
        Pending<T> mine = new Pending<>(callback);
        queue.add(mine);
        committing.lock();
        try {
            if (!mine.done) {
                commitBatch();
            }
        } finally {
            committing.unlock();
        }
        if (mine.failure != null) {
            throw mine.failure;
        }
        return mine.result;
    }

    /** Runs everything queued so far in one transaction (under {@link #committing}). */
    private void commitBatch() {
        List<Pending<?>> batch = new ArrayList<>();
        for (Pending<?> next; (next = queue.poll()) != null; ) {
            batch.add(next);
        }
        try {
            if (batch.size() == 1) {
                Pending<?> only = batch.getFirst();
                try {
                    runAlone(only);
                } catch (RuntimeException e) {
                    only.failure = e;
                }
            } else {
                writes.useTransaction(handle -> {
                    for (int i = 0; i < batch.size(); i++) {
                        batch.get(i).runIn(handle, "p" + i);
                    }
                });
            }
        } catch (RuntimeException | Error batchFailed) {
            RuntimeException failure = batchFailed instanceof RuntimeException runtime ? runtime
                    : new IllegalStateException("a metadata transaction failed: " + batchFailed, batchFailed);
            batch.forEach(pending -> pending.failure = failure);
        } finally {
            batch.forEach(pending -> pending.done = true);
        }
    }

    private <T> void runAlone(Pending<T> pending) {
        pending.result = writes.inTransaction(pending.callback);
    }
}
