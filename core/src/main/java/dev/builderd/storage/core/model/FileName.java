package dev.builderd.storage.core.model;

/**
 * The name of an artifact or a log file within a build: 1 to 128 of {@code A-Z a-z 0-9 . _ -},
 * not starting with {@code .}. Valid by construction; safe as one path segment anywhere.
 */
public record FileName(String value) {

    public FileName {
        Names.require(Names.FILE_NAME, value, "name",
                "use 1 to 128 of A-Z a-z 0-9 '.' '_' '-', not starting with '.'");
    }

    public static FileName of(String value) {
        return new FileName(value);
    }

    /** Whether {@code value} is a valid name (for names found in storage, which no client vouched for). */
    public static boolean isValid(String value) {
        return value != null && Names.FILE_NAME.matcher(value).matches();
    }

    @Override
    public String toString() {
        return value;
    }
}
