package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobAlreadyExistsException;
import dev.builderd.storage.blob.BlobInfo;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobNotFoundException;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ByteRange;
import dev.builderd.storage.blob.FileAdoption;
import dev.builderd.storage.blob.WriteMode;
import dev.builderd.storage.core.model.TenantId;
import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.function.LongConsumer;

/**
 * Where backups live: any {@link BlobStore} (a directory, another disk, an S3 bucket, Azure),
 * holding
 * <pre>
 *   data/{first two hex digits}/{sha256}          each distinct content once, as the daemon stores it
 *   snapshots/{tenant}/{snapshot}/objects.jsonl.gz a snapshot's lines ({@link BackupManifest})
 *   snapshots/{tenant}/{snapshot}/summary.json     its summary, written last: the snapshot exists once it does
 *   keysets/{tenant}.key                           an encrypted tenant's archived keyset, wrapped by the master key
 * </pre>
 * Content is copied through a spool file on the local disk while it is hashed (the address is
 * known only at the end, and a blob store cannot rename), so a source is read once.
 */
final class BackupTarget {

    private static final String DATA = "data/";
    private static final String SNAPSHOTS = "snapshots/";
    private static final String KEYSETS = "keysets/";
    private static final String SUMMARY = "summary.json";
    private static final String OBJECTS = "objects.jsonl.gz";

    /** Content stored in the target: its address and size, and whether this call copied it (false: it was there). */
    record Stored(String sha256, long size, boolean copied) {
    }

    /** A snapshot's name: its tenant and its ID. */
    record SnapshotRef(TenantId tenant, String id) {
        @Override
        public String toString() {
            return tenant + "/" + id;
        }
    }

    private final BlobStore store;
    private final Path spool;

    /** @param spool a private local directory for copies in flight (emptied here: nothing else may use it) */
    BackupTarget(BlobStore store, Path spool) throws IOException {
        this.store = store;
        this.spool = spool;
        Files.createDirectories(spool);
        try (var leftovers = Files.list(spool)) {
            for (Path file : (Iterable<Path>) leftovers::iterator) {
                Files.deleteIfExists(file);
            }
        }
    }

    String describe() {
        return store.backendName() + " backup target";
    }

    /** Writes, reads and deletes a small object under {@code health/}: empty when the target works, else why not. */
    Optional<String> probe(java.time.Duration deadline) {
        return dev.builderd.storage.blob.BlobStoreProbe.probe(store, "health/", deadline).problem();
    }

    // ---------------------------------------------------------------- content

    static BlobKey dataKey(String sha256) {
        return BlobKey.of(DATA + sha256.substring(0, 2) + "/" + sha256);
    }

    /** Whether content with this address is stored. */
    boolean holds(String sha256) throws IOException {
        return store.stat(dataKey(sha256)).isPresent();
    }

    /**
     * Stores {@code content} under its SHA-256, unless content with that address is there. Every
     * byte read is passed to {@code progress}. With {@code expectedSha256} (known from the
     * metadata), the content streams straight to its address and is refused if it does not match
     * ({@link IoErrors.ChecksumMismatchException}); otherwise it is spooled while it is hashed.
     */
    Stored store(InputStream content, long length, Optional<String> expectedSha256, LongConsumer progress) throws IOException {
        InputStream counted = new FilterInputStream(content) {
            @Override
            public int read(byte[] buffer, int offset, int count) throws IOException {
                int n = super.read(buffer, offset, count);
                if (n > 0) {
                    progress.accept(n);
                }
                return n;
            }
        };
        if (expectedSha256.isPresent()) {
            try {
                store.put(dataKey(expectedSha256.get()), new HashingInputStream(counted, expectedSha256.get()), length, WriteMode.CREATE_NEW);
                return new Stored(expectedSha256.get(), length, true);
            } catch (BlobAlreadyExistsException storedMeanwhile) {
                return new Stored(expectedSha256.get(), length, false);
            }
        }
        Path file = spool.resolve(UUID.randomUUID() + ".part");
        try {
            HashingInputStream hashing = new HashingInputStream(counted, null);
            long size;
            try (OutputStream out = Files.newOutputStream(file)) {
                size = hashing.transferTo(out);
            }
            String sha256 = hashing.sha256();
            BlobKey key = dataKey(sha256);
            if (store.stat(key).isPresent()) {
                return new Stored(sha256, size, false);
            }
            if (store instanceof FileAdoption adoption) {
                try {
                    adoption.adopt(key, file);
                    return new Stored(sha256, size, true);
                } catch (AtomicMoveNotSupportedException elsewhere) {
                    // another filesystem: copied below
                }
            }
            try (InputStream in = Files.newInputStream(file)) {
                store.put(key, in, size, WriteMode.CREATE_NEW);
            } catch (BlobAlreadyExistsException storedMeanwhile) {
                return new Stored(sha256, size, false);
            }
            return new Stored(sha256, size, true);
        } finally {
            Files.deleteIfExists(file);
        }
    }

    InputStream openData(String sha256, ByteRange range) throws IOException {
        return store.open(dataKey(sha256), range);
    }

    /** The addresses of all content, in order, fetched lazily. */
    Iterator<String> contentAddresses() throws IOException {
        Iterator<BlobInfo> blobs = store.list(DATA, null);
        return new Iterator<>() {
            @Override
            public boolean hasNext() {
                return blobs.hasNext();
            }

            @Override
            public String next() {
                return blobs.next().key().fileName();
            }
        };
    }

    int deleteContent(List<String> sha256s) throws IOException {
        return store.deleteAll(sha256s.stream().map(BackupTarget::dataKey).toList());
    }

    // ---------------------------------------------------------------- snapshots

    private static String snapshotPrefix(SnapshotRef ref) {
        return SNAPSHOTS + ref.tenant().value() + "/" + ref.id() + "/";
    }

    /** Publishes a snapshot: its lines from {@code lines}, then its summary. */
    void publish(SnapshotRef ref, Path lines, BackupManifest.Summary summary) throws IOException {
        try (InputStream in = Files.newInputStream(lines)) {
            store.put(BlobKey.of(snapshotPrefix(ref) + OBJECTS), in, Files.size(lines), WriteMode.OVERWRITE);
        }
        byte[] json = BackupManifest.JSON.writeValueAsBytes(summary);
        store.put(BlobKey.of(snapshotPrefix(ref) + SUMMARY), new ByteArrayInputStream(json), json.length, WriteMode.OVERWRITE);
    }

    /** A local spool file for a manifest being written; the caller deletes it. */
    Path newSpoolFile() {
        return spool.resolve(UUID.randomUUID() + ".manifest");
    }

    /** The finished snapshots of {@code tenant} (or of every tenant), oldest first. */
    List<BackupManifest.Summary> summaries(Optional<TenantId> tenant) throws IOException {
        List<BackupManifest.Summary> summaries = new ArrayList<>();
        Iterator<BlobInfo> blobs = store.list(SNAPSHOTS + tenant.map(t -> t.value() + "/").orElse(""), null);
        try {
            while (blobs.hasNext()) {
                BlobKey key = blobs.next().key();
                if (key.fileName().equals(SUMMARY)) {
                    try {
                        summaries.add(summary(key));
                    } catch (BlobNotFoundException prunedMeanwhile) {
                        // gone since it was listed
                    }
                }
            }
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        summaries.sort(Comparator.comparingLong(BackupManifest.Summary::takenAtMs).thenComparing(BackupManifest.Summary::snapshotId));
        return summaries;
    }

    /**
     * The tenant's newest finished snapshot, reading only its summary: snapshot IDs are their
     * UTC times, so key order is time order.
     */
    Optional<BackupManifest.Summary> newest(TenantId tenant) throws IOException {
        BlobKey newest = null;
        Iterator<BlobInfo> blobs = store.list(SNAPSHOTS + tenant.value() + "/", null);
        try {
            while (blobs.hasNext()) {
                BlobKey key = blobs.next().key();
                if (key.fileName().equals(SUMMARY)) {
                    newest = key;
                }
            }
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        return newest == null ? Optional.empty() : Optional.of(summary(newest));
    }

    private BackupManifest.Summary summary(BlobKey key) throws IOException {
        try (InputStream in = store.open(key, ByteRange.ALL)) {
            return BackupManifest.JSON.readValue(in, BackupManifest.Summary.class);
        } catch (com.fasterxml.jackson.core.JacksonException damaged) {
            throw new IOException("the snapshot summary " + key + " in the " + describe() + " is damaged: "
                    + damaged.getOriginalMessage(), damaged);
        }
    }

    /** The snapshots whose lines were stored but whose summary never was (a backup that stopped half-way). */
    List<SnapshotRef> unfinished() throws IOException {
        List<SnapshotRef> unfinished = new ArrayList<>();
        Iterator<BlobInfo> blobs = store.list(SNAPSHOTS, null);
        SnapshotRef pending = null;
        try {
            while (blobs.hasNext()) {
                List<String> segments = blobs.next().key().segments();
                if (segments.size() != 4) {
                    continue;
                }
                SnapshotRef ref = new SnapshotRef(TenantId.of(segments.get(1)), segments.get(2));
                if (segments.get(3).equals(SUMMARY)) {
                    pending = null;
                } else if (segments.get(3).equals(OBJECTS)) {
                    if (pending != null) {
                        unfinished.add(pending);
                    }
                    pending = ref;
                }
            }
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        if (pending != null) {
            unfinished.add(pending);
        }
        return unfinished;
    }

    /** The lines of a snapshot; the caller closes the reader. */
    BackupManifest.Reader lines(SnapshotRef ref) throws IOException {
        return new BackupManifest.Reader(store.open(BlobKey.of(snapshotPrefix(ref) + OBJECTS), ByteRange.ALL),
                "of snapshot " + ref + " in the " + describe());
    }

    /** Deletes a snapshot: its summary first, so that it is never listed half-deleted. */
    void delete(SnapshotRef ref) throws IOException {
        store.delete(BlobKey.of(snapshotPrefix(ref) + SUMMARY));
        store.delete(BlobKey.of(snapshotPrefix(ref) + OBJECTS));
    }

    // ---------------------------------------------------------------- keysets

    private static BlobKey keysetKey(TenantId tenant) {
        return BlobKey.of(KEYSETS + tenant.value() + ".key");
    }

    Optional<byte[]> keyset(TenantId tenant) throws IOException {
        try (InputStream in = store.open(keysetKey(tenant), ByteRange.ALL)) {
            return Optional.of(in.readAllBytes());
        } catch (BlobNotFoundException none) {
            return Optional.empty();
        }
    }

    void putKeyset(TenantId tenant, byte[] keyFile) throws IOException {
        store.put(keysetKey(tenant), new ByteArrayInputStream(keyFile), keyFile.length, WriteMode.OVERWRITE);
    }

    /** The tenants whose keysets are archived here. */
    List<TenantId> archivedKeysets() throws IOException {
        List<TenantId> tenants = new ArrayList<>();
        try {
            store.list(KEYSETS, null).forEachRemaining(blob -> {
                String name = blob.key().fileName();
                if (name.endsWith(".key")) {
                    tenants.add(TenantId.of(name.substring(0, name.length() - ".key".length())));
                }
            });
        } catch (UncheckedIOException e) {
            throw e.getCause();
        }
        return tenants;
    }

    boolean deleteKeyset(TenantId tenant) throws IOException {
        return store.delete(keysetKey(tenant));
    }
}
