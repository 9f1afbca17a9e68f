package dev.builderd.storage.core.metadata;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;
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
 *
 * <p>One caller at a time leads: it takes {@link #committing} and commits everything queued.
 * The others wait on their own transaction, not on the lock, and the leader wakes each one whose
 * transaction it committed: under load most callers find their work done when they wake and
 * return without ever holding the lock. (Had each waited for the lock, the callers of one batch
 * would be handed the lock one by one just to see that they were done, every hand-over waiting for
 * a carrier thread: a convoy that measured ~200 cache writes/s with 64 writers where the disk
 * does ~1,900 durable publishes/s with one.) A leader that is done wakes the oldest waiter, which
 * leads next if its work is still queued.
 */
final class GroupCommit {

    private static final class Pending<T> {
        final HandleCallback<T, RuntimeException> callback;
        final boolean durable;
        final Thread waiter = Thread.currentThread();
        volatile boolean done;
        T result;
        RuntimeException failure;

        Pending(HandleCallback<T, RuntimeException> callback, boolean durable) {
            this.callback = callback;
            this.durable = durable;
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

    /**
     * Runs {@code callback} in a transaction, alone or with others queued with it.
     *
     * @param durable whether its commit must be on disk when this returns; a batch that holds
     *     only transactions that need not be commits without waiting for the disk (SQLite's
     *     {@code synchronous = NORMAL} in WAL mode: the commit is kept in order, and the next
     *     durable commit makes it durable with itself)
     */
    <T> T inTransaction(HandleCallback<T, RuntimeException> callback, boolean durable) {
        Pending<T> mine = new Pending<>(callback, durable);
        queue.add(mine);
        boolean interrupted = false;
        while (!mine.done) {
            if (committing.tryLock()) {
                try {
                    if (!mine.done) {
                        commitBatch();
                    }
                } finally {
                    committing.unlock();
                }
                // Queued after this batch was taken: its caller may be waiting for a leader.
                Pending<?> next = queue.peek();
                if (next != null) {
                    LockSupport.unpark(next.waiter);
                }
            } else {
                // Woken when a leader committed this transaction, or when one finished and this is the
                // oldest still queued; the leader holding the lock now wakes the oldest when it ends,
                // so a wake-up is never lost (park returns at once after an earlier unpark).
                LockSupport.park(this);
                // An interrupt would end every later park at once: keep it for the caller instead.
                interrupted |= Thread.interrupted();
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
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
        boolean durable = batch.stream().anyMatch(pending -> pending.durable);
        try {
            if (batch.size() == 1) {
                Pending<?> only = batch.getFirst();
                try {
                    // Failing out of the handle, not caught inside it: a commit that failed (a full disk)
                    // leaves the transaction open, and the handle's complaint on closing must stay
                    // suppressed under the real failure, which the caller gets.
                    writes.useHandle(handle -> runAlone(synchronous(handle, durable), only));
                } catch (RuntimeException e) {
                    only.failure = e;
                }
            } else {
                writes.useHandle(handle -> synchronous(handle, durable).useTransaction(inside -> {
                    for (int i = 0; i < batch.size(); i++) {
                        batch.get(i).runIn(inside, "p" + i);
                    }
                }));
            }
        } catch (RuntimeException | Error batchFailed) {
            RuntimeException failure = batchFailed instanceof RuntimeException runtime ? runtime
                    : new IllegalStateException("a metadata transaction failed: " + batchFailed, batchFailed);
            batch.forEach(pending -> pending.failure = failure);
        } finally {
            for (Pending<?> pending : batch) {
                pending.done = true;
                LockSupport.unpark(pending.waiter);
            }
        }
    }

    /**
     * Sets how the next commit on {@code handle} waits for the disk. Set for every batch rather
     * than restored after one, so a connection is never left committing lazily by a batch that
     * failed half-way.
     */
    private static Handle synchronous(Handle handle, boolean durable) {
        handle.execute(durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
        return handle;
    }

    private static <T> void runAlone(Handle handle, Pending<T> pending) {
        pending.result = handle.inTransaction(pending.callback);
    }
}
