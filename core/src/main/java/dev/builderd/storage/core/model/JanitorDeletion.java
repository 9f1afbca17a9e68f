package dev.builderd.storage.core.model;

import java.time.Instant;
import java.util.Locale;
import java.util.Objects;

/**
 * Something the lifecycle janitor deletes (in a dry run: would delete), and why.
 *
 * @param item the artifact's name for {@link Kind#MISSING_ARTIFACT}, empty otherwise
 * @param bytes what the deletion gives back to the tenant's quota (for orphan files, which the
 *     quota never counted, what they took on disk as far as the stores list it)
 * @param at when it was deleted; in a dry run, when it was evaluated
 */
public record JanitorDeletion(BuildRef build, Kind kind, String item, String reason, long bytes, Instant at) {

    /** What was deleted. */
    public enum Kind {
        /** A finished build past its retention: its artifacts, logs, directories and metadata. */
        BUILD,
        /** The logs of a build kept for its artifacts, past the log retention. */
        LOGS,
        /** Files and directories of a build the metadata store does not know. */
        ORPHAN_BUILD,
        /** The metadata row of an artifact whose file is gone. */
        MISSING_ARTIFACT;

        /** The lowercase name used in the API, the metrics and the record. */
        public String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public JanitorDeletion {
        Objects.requireNonNull(build, "build");
        Objects.requireNonNull(kind, "kind");
        Objects.requireNonNull(item, "item");
        Objects.requireNonNull(reason, "reason");
        Objects.requireNonNull(at, "at");
    }
}
