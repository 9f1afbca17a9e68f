package dev.builderd.storage.blob;

import java.io.IOException;
import java.util.List;

/**
 * Where a {@link ReplicatingBlobStore} notes the keys whose blob may now differ between its
 * primary and its secondary, so that a replication worker later makes the secondary match the
 * primary for each of them.
 *
 * <p>The store calls {@link #changing} twice for every change it makes in the primary: once
 * before (so that a crash between the change and the note leaves, at worst, a note of a change
 * that did not happen: a sync that changes nothing), and once after (so that a sync that ran
 * between the two, and saw the primary as it was before, is done again). An implementation keeps
 * one entry per key (a later note of a key replaces the earlier one, keeping when the key first
 * became pending), and an entry must be durable when {@code changing} returns.
 */
public interface ReplicationJournal {

    /**
     * Notes that the blob under {@code key} is about to change, or has just changed, in the
     * primary. Durable when it returns.
     *
     * @param bytes the blob's size in the primary after the change, as far as known (0 for a
     *     deletion or when not yet known): what the replication lag in bytes counts
     * @throws IOException if the note could not be made durable; the store then does not change
     *     the primary
     */
    void changing(BlobKey key, long bytes) throws IOException;

    /** {@link #changing} for each key, with size 0, durable together when it returns. */
    default void changingAll(List<BlobKey> keys) throws IOException {
        for (BlobKey key : keys) {
            changing(key, 0);
        }
    }
}
