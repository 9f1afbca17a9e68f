package dev.builderd.storage.core.model;

import java.security.SecureRandom;
import java.util.HexFormat;

/** A build's ID, unique within its tenant: {@code [a-z0-9][a-z0-9-]{0,62}}. Valid by construction. */
public record BuildId(String value) {

    private static final SecureRandom RANDOM = new SecureRandom();

    public BuildId {
        Names.require(Names.ID, value, "build id", "use 1 to 63 lowercase letters, digits or '-', not starting with '-'");
    }

    public static BuildId of(String value) {
        return new BuildId(value);
    }

    /** A fresh random ID, {@code build-} and 16 hex digits. */
    public static BuildId random() {
        byte[] bytes = new byte[8];
        RANDOM.nextBytes(bytes);
        return new BuildId("build-" + HexFormat.of().formatHex(bytes));
    }

    @Override
    public String toString() {
        return value;
    }
}
