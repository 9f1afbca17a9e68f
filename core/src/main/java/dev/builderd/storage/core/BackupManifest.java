package dev.builderd.storage.core;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/**
 * The documents of one snapshot of one tenant in a backup target: a small summary (written last,
 * so a snapshot without one is unfinished and ignored), and the gzipped JSON lines of what the
 * tenant held: its settings, each build with its artifact rows, and each stored object with its
 * size, SHA-256 (of the bytes as stored: ciphertext for an encrypted tenant), mode and time.
 * Lines are read and written one at a time; a manifest of a million objects is never held whole.
 */
final class BackupManifest {

    static final String FORMAT = "builderd-backup-snapshot/1";

    static final ObjectMapper JSON = new ObjectMapper()
            .setSerializationInclusion(JsonInclude.Include.NON_NULL)
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false)
            .configure(JsonGenerator.Feature.AUTO_CLOSE_TARGET, false);

    private BackupManifest() {
    }

    /**
     * What a snapshot is, for listing without reading its lines.
     *
     * @param skipped what the tenant held when the snapshot began but was gone when it was copied
     *     (deleted meanwhile), each in words; the snapshot holds the tenant without it
     */
    record Summary(String format, String tenant, String snapshotId, long takenAtMs, String tier, boolean encryption, int builds,
            long objects, long bytes, long copiedObjects, long copiedBytes, List<String> skipped) {
    }

    /** One line of the manifest. */
    @JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "type")
    @JsonSubTypes({
            @JsonSubTypes.Type(value = TenantLine.class, name = "tenant"),
            @JsonSubTypes.Type(value = BuildLine.class, name = "build"),
            @JsonSubTypes.Type(value = ObjectLine.class, name = "object")})
    sealed interface Line permits TenantLine, BuildLine, ObjectLine {
    }

    /**
     * The tenant's settings: tier, encryption, its retention policy file (JSON, or null for the
     * tier's defaults) and the cache policies the operator set, by cache type.
     */
    record TenantLine(String tier, boolean encryption, String retentionPolicy, Map<String, CachePolicyLine> cachePolicies)
            implements Line {
    }

    /** A cache policy as the operator set it; null fields take the daemon's defaults. */
    record CachePolicyLine(Long maxSizeBytes, String evictionPolicy, Long minRetentionSeconds, Long maxRetentionSeconds) {
    }

    /** A finished build and its artifacts' rows. */
    record BuildLine(String buildId, String status, String failureReason, long createdAtMs, Long completedAtMs,
            List<ArtifactLine> artifacts) implements Line {
    }

    /** An artifact's row: its plaintext size and SHA-256. */
    record ArtifactLine(String name, long size, String sha256, long createdAtMs) {
    }

    /**
     * A stored object: an artifact, a log or a cache entry, by its key in its category's store.
     *
     * @param size the stored size (ciphertext for an encrypted tenant)
     * @param sha256 the SHA-256 of the stored bytes: the object's address in the target's data
     * @param mode the file mode the service gives every blob it writes, restored with it
     */
    record ObjectLine(String category, String key, long size, String sha256, String mode, long modifiedAtMs) implements Line {
    }

    /** Writes lines, gzipped, to {@code out} (which it closes). */
    static final class Writer implements Closeable {
        private final OutputStream out;
        private final com.fasterxml.jackson.databind.SequenceWriter lines;

        Writer(OutputStream out) throws IOException {
            this.out = new GZIPOutputStream(out, 64 << 10);
            this.lines = JSON.writerFor(Line.class).withRootValueSeparator("\n").writeValues(this.out);
        }

        void write(Line line) throws IOException {
            lines.write(line);
        }

        @Override
        public void close() throws IOException {
            try (out) {
                lines.close();
            }
        }
    }

    /**
     * The lines of a manifest, read lazily from {@code in} (which closing the reader closes); the
     * iterator throws {@link UncheckedIOException} naming {@code what} if the manifest is damaged.
     */
    static final class Reader implements Closeable, Iterator<Line> {
        private final InputStream in;
        private final MappingIterator<Line> lines;
        private final String what;

        Reader(InputStream in, String what) throws IOException {
            this.in = in;
            this.what = what;
            this.lines = JSON.readerFor(Line.class).readValues(new GZIPInputStream(in, 64 << 10));
        }

        @Override
        public boolean hasNext() {
            try {
                return lines.hasNextValue();
            } catch (IOException e) {
                throw new UncheckedIOException("the manifest " + what + " is damaged: " + e.getMessage(), e);
            }
        }

        @Override
        public Line next() {
            if (!hasNext()) {
                throw new NoSuchElementException();
            }
            try {
                return lines.nextValue();
            } catch (IOException e) {
                throw new UncheckedIOException("the manifest " + what + " is damaged: " + e.getMessage(), e);
            }
        }

        @Override
        public void close() throws IOException {
            try (in) {
                lines.close();
            }
        }
    }
}
