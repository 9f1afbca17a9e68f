package dev.builderd.storage.core.model;

import dev.builderd.storage.core.error.InvalidInputException;
import java.util.Locale;

/** Where a build is in its life. Only an active build accepts uploads. */
public enum BuildStatus {
    ACTIVE, SUCCEEDED, FAILED;

    /** The lowercase name used in the API. */
    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Parses a final status given by a worker completing its build: succeeded or failed. */
    public static BuildStatus parseFinal(String name) {
        if ("succeeded".equals(name)) {
            return SUCCEEDED;
        }
        if ("failed".equals(name)) {
            return FAILED;
        }
        throw new InvalidInputException("status " + Names.quote(name) + " is invalid: use \"succeeded\" or \"failed\"");
    }
}
