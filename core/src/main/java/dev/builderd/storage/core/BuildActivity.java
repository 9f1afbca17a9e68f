package dev.builderd.storage.core;

import dev.builderd.storage.core.error.ConflictException;
import dev.builderd.storage.core.model.BuildRef;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * Keeps uploads and state changes of one build apart: an upload registers while the build is
 * active, and the build cannot be completed, expired or deleted while uploads are registered, so
 * no upload can land in a build that has already been closed. Both sides run their metadata
 * check inside the build's lock.
 */
final class BuildActivity {

    /** A registered upload; closing it unregisters it. */
    interface Upload extends AutoCloseable {
        @Override
        void close();
    }

    private final KeyedLocks<BuildRef> locks = new KeyedLocks<>();
    private final ConcurrentHashMap<BuildRef, Integer> uploads = new ConcurrentHashMap<>();

    /** Runs {@code checkActive} (which throws if the build cannot take uploads) and registers an upload. */
    Upload beginUpload(BuildRef ref, Runnable checkActive) {
        try (KeyedLocks.Held held = locks.lock(ref)) {
            checkActive.run();
            uploads.merge(ref, 1, Integer::sum);
        }
        return () -> uploads.computeIfPresent(ref, (k, n) -> n == 1 ? null : n - 1);
    }

    /** Runs {@code change} under the build's lock if no upload is in flight; otherwise 409. */
    <T> T closeBuild(BuildRef ref, String action, Supplier<T> change) {
        try (KeyedLocks.Held held = locks.lock(ref)) {
            Integer inFlight = uploads.get(ref);
            if (inFlight != null) {
                throw new ConflictException("cannot " + action + " build " + ref + " while " + inFlight
                        + " upload(s) to it are in progress; retry when they finish");
            }
            return change.get();
        }
    }

    /** Whether uploads to the build are in flight. */
    boolean hasUploads(BuildRef ref) {
        return uploads.containsKey(ref);
    }

    /** Runs {@code work} under the build's lock (short work only, such as rewriting its manifest). */
    <T> T underLock(BuildRef ref, Supplier<T> work) {
        try (KeyedLocks.Held held = locks.lock(ref)) {
            return work.get();
        }
    }
}
