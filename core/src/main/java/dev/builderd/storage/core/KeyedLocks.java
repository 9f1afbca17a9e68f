package dev.builderd.storage.core;

import dev.builderd.storage.core.error.ConflictException;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One mutual-exclusion lock per key, created on demand and dropped when no thread holds or
 * waits for it, so the map stays as small as the set of keys in use.
 */
final class KeyedLocks<K> {

    private static final class Entry {
        final ReentrantLock lock = new ReentrantLock(true);
        int users;
    }

    /** A held lock; closing it releases the lock. */
    interface Held extends AutoCloseable {
        @Override
        void close();
    }

    private final ConcurrentHashMap<K, Entry> entries = new ConcurrentHashMap<>();

    /** Waits for the lock of {@code key}. */
    Held lock(K key) {
        return lock(key, null, null);
    }

    /**
     * Waits at most {@code maxWait} for the lock of {@code key}; past that, throws
     * {@link ConflictException} with {@code busyMessage}.
     */
    Held lock(K key, Duration maxWait, String busyMessage) {
        Entry entry = entries.compute(key, (k, e) -> {
            Entry result = e == null ? new Entry() : e;
            result.users++;
            return result;
        });
        boolean acquired = false;
        try {
            if (maxWait == null) {
                entry.lock.lockInterruptibly();
                acquired = true;
            } else {
                acquired = entry.lock.tryLock(maxWait.toMillis(), TimeUnit.MILLISECONDS);
                if (!acquired) {
                    throw new ConflictException(busyMessage);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ConflictException("interrupted while waiting: " + busyMessage);
        } finally {
            if (!acquired) {
                release(key, entry);
            }
        }
        return () -> {
            entry.lock.unlock();
            release(key, entry);
        };
    }

    /**
     * Takes the lock of {@code key} if no other thread holds it (or this one does), without
     * waiting: for work that may skip a busy key, and so never waits in a cycle with a thread that
     * holds one key and waits for another.
     */
    Optional<Held> tryLock(K key) {
        Entry entry = entries.compute(key, (k, e) -> {
            Entry result = e == null ? new Entry() : e;
            result.users++;
            return result;
        });
        if (!entry.lock.tryLock()) {
            release(key, entry);
            return Optional.empty();
        }
        return Optional.of(() -> {
            entry.lock.unlock();
            release(key, entry);
        });
    }

    private void release(K key, Entry entry) {
        entries.computeIfPresent(key, (k, e) -> --e.users == 0 ? null : e);
    }
}
