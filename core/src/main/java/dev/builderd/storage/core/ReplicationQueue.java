package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.ReplicationJournal;
import dev.builderd.storage.core.error.StorageException;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.ReplicationRows;
import java.io.IOException;
import java.time.Clock;
import java.util.List;

/**
 * The durable replication queue in the metadata store ({@code replication_queue}): the
 * {@link ReplicationJournal} of the replicating stores, read by the {@link Replication} worker.
 * It survives restarts, and on PostgreSQL it is shared by every node.
 */
public final class ReplicationQueue implements ReplicationJournal {

    private final MetadataStore metadata;
    private final Clock clock;

    public ReplicationQueue(MetadataStore metadata, Clock clock) {
        this.metadata = metadata;
        this.clock = clock;
    }

    @Override
    public void changing(BlobKey key, long bytes) throws IOException {
        changingAll(List.of(key), bytes);
    }

    @Override
    public void changingAll(List<BlobKey> keys) throws IOException {
        changingAll(keys, 0);
    }

    private void changingAll(List<BlobKey> keys, long bytes) throws IOException {
        long now = clock.millis();
        try {
            metadata.inTransaction(h -> {
                keys.forEach(key -> ReplicationRows.changed(h, key.value(), bytes, now));
                return null;
            });
        } catch (StorageException e) {
            throw new IOException("recording " + (keys.size() == 1 ? keys.getFirst() : keys.size() + " keys")
                    + " in the replication queue failed (the metadata store is needed to replicate): " + e.getMessage(), e);
        }
    }
}
