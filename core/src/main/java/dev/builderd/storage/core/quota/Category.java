package dev.builderd.storage.core.quota;

import dev.builderd.storage.core.error.InvalidInputException;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** What a tenant's bytes are for; each has its own line in the ledger. */
public enum Category {
    /** Build artifacts (rootfs/), counted exactly from their metadata. */
    ARTIFACTS,
    /** The tenant's build caches. */
    CACHE,
    /** Build logs. */
    LOGS,
    /** Builds' workspace/ directories, written by build processes; measured by the scanner. */
    WORKSPACE,
    /** Builds' temp/ directories, written by build processes; measured by the scanner. */
    SCRATCH,
    /** Builds' metadata/ directories; measured by the scanner. */
    METADATA;

    /** The lowercase name of the API, the ledger and the metrics. */
    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Category parse(String name) {
        for (Category category : values()) {
            if (category.wireName().equals(name)) {
                return category;
            }
        }
        throw new InvalidInputException("category '" + name + "' is unknown: use one of "
                + Arrays.stream(values()).map(Category::wireName).collect(Collectors.joining(", ")));
    }

    /** Whether the bytes are measured by scanning directories rather than counted as they are written. */
    public boolean scanned() {
        return this == WORKSPACE || this == SCRATCH || this == METADATA;
    }
}
