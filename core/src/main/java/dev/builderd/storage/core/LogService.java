package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.core.error.ConflictException;
import dev.builderd.storage.core.error.NotFoundException;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.quota.Category;
import dev.builderd.storage.core.quota.Quotas;
import dev.builderd.storage.core.quota.Reservation;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/** A build's logs under {@code logs/}: written while the build is active, readable for as long as the build is kept. */
public final class LogService {

    /** A log file: its name and size. */
    public record LogInfo(FileName name, long size) {
    }

    private final Layout layout;
    private final BlobStore store;
    private final BuildActivity activity;
    private final BuildService builds;

    private final Quotas quotas;
    private final MetadataStore metadata;

    LogService(MetadataStore metadata, Stores stores, BuildActivity activity, BuildService builds, CoreConfig config, Quotas quotas) {
        this.metadata = metadata;
        this.quotas = quotas;
        this.layout = config.layout();
        this.store = stores.logs();
        this.activity = activity;
        this.builds = builds;
    }

    /** Stores (or replaces) the log {@code name}, streaming. */
    public LogInfo put(Principal caller, BuildRef ref, FileName name, InputStream body, long length) {
        caller.requireWrite(ref);
        BlobKey key = layout.logKey(ref, name);
        try (BuildActivity.Upload upload = activity.beginUpload(ref, () -> builds.requireActive(ref));
                Reservation reservation = quotas.reserve(ref.tenant(), Category.LOGS, Math.max(0, length))) {
            long replaced = store.stat(key).map(BlobInfo::size).orElse(0L);
            InputStream checked = new HashingInputStream(body, null);
            BlobInfo info = store.put(key, reservation.meter(checked, length), length, WriteMode.OVERWRITE);
            reservation.commit(info.size(), replaced);
            return new LogInfo(name, info.size());
        } catch (IOException e) {
            throw IoErrors.translate(e, "storing log " + name + " of build " + ref);
        }
    }

    /** Opens the log for reading; the caller closes the stream. */
    public InputStream open(Principal caller, BuildRef ref, FileName name) {
        caller.requireRead(ref);
        builds.require(ref);
        BlobKey key = layout.logKey(ref, name);
        try {
            return store.open(key, ByteRange.ALL);
        } catch (dev.builderd.storage.blob.BlobNotFoundException e) {
            throw new NotFoundException("build " + ref + " has no log '" + name + "'");
        } catch (IOException e) {
            throw IoErrors.translate(e, "reading log " + name + " of build " + ref);
        }
    }

    /** The build's logs, by name. */
    public List<LogInfo> list(Principal caller, BuildRef ref) {
        caller.requireRead(ref);
        builds.require(ref);
        String prefix = layout.logKeyPrefix(ref);
        List<LogInfo> logs = new ArrayList<>();
        try {
            Iterator<BlobInfo> blobs = store.list(prefix, null);
            while (blobs.hasNext()) {
                BlobInfo blob = blobs.next();
                String name = blob.key().value().substring(prefix.length());
                if (!name.contains("/")) {
                    logs.add(new LogInfo(FileName.of(name), blob.size()));
                }
            }
        } catch (IOException e) {
            throw IoErrors.translate(e, "listing the logs of build " + ref);
        } catch (UncheckedIOException e) {
            throw IoErrors.translate(e.getCause(), "listing the logs of build " + ref);
        }
        return logs;
    }

    /**
     * Deletes every log of a finished build (the retention janitor's work) and gives their bytes
     * back to the quota; returns those bytes.
     *
     * @throws ConflictException if the build is active: its worker may still write logs
     */
    long deleteAll(BuildRef ref) {
        return activity.closeBuild(ref, "delete the logs of", () -> {
            if (builds.require(ref).isActive()) {
                throw new ConflictException("build " + ref + " is active; its logs are deleted only once it has finished");
            }
            long bytes = 0;
            try {
                Iterator<BlobInfo> blobs = store.list(layout.logKeyPrefix(ref), null);
                List<BlobInfo> all = new ArrayList<>();
                blobs.forEachRemaining(all::add);
                for (BlobInfo blob : all) {
                    store.delete(blob.key());
                    bytes += blob.size();
                }
            } catch (IOException e) {
                throw IoErrors.translate(e, "deleting the logs of build " + ref);
            } catch (UncheckedIOException e) {
                throw IoErrors.translate(e.getCause(), "deleting the logs of build " + ref);
            } finally {
                // Whatever went is given back, even when a later delete failed.
                long freed = bytes;
                metadata.inTransaction(h -> {
                    quotas.adjust(h, ref.tenant(), Category.LOGS, -freed);
                    return null;
                });
            }
            return bytes;
        });
    }
}
