package dev.builderd.storage.server.config;

import java.util.Arrays;
import java.util.Optional;

/**
 * Every environment variable the daemon reads, with its default and meaning: the single list
 * that parsing, {@code --help} and the documentation come from.
 */
public enum Variable {
    PORT("8082", "TCP port of the HTTP API (0 picks a free port)"),
    BIND_ADDRESS("0.0.0.0", "address the HTTP API listens on"),
    DATA_DIR("/var/lib/builderd", "data root holding tenants/, global/ and config/"),
    STORAGE_BACKEND("filesystem", "where artifacts and logs live: filesystem (alias: local)"),
    SCRATCH_DIR("(data root)", "root of the tenant trees holding builds' temp/ directories"),
    WORKSPACE_DIR("(data root)", "root of the tenant trees holding builds' workspace/ directories"),
    ROOTFS_OUTPUT_DIR("(data root)", "root of the tenant trees holding builds' rootfs/ artifacts"),
    CACHE_DIR("(data root)", "root of the tenant trees holding cache/ directories"),
    ADMIN_TOKEN("(generated into config/admin.token)", "bearer token of the operator; at least 16 characters"),
    METADATA_URL("sqlite:<data root>/metadata/builderd.db", "metadata store: sqlite:/path/file.db or postgresql://user:password@host:port/db"),
    BUILD_LEASE_SECONDS("900", "how long a build stays active without a heartbeat, unless it asks for another lease"),
    MAX_BUILD_LEASE_SECONDS("86400", "the longest lease a build may ask for"),
    LEASE_CHECK_SECONDS("30", "how often expired build leases are looked for");

    /** The prefix of every variable, kept from the original service. */
    public static final String PREFIX = "UNKEY_BUILDERD_";

    private final String defaultValue;
    private final String description;

    Variable(String defaultValue, String description) {
        this.defaultValue = defaultValue;
        this.description = description;
    }

    /** The full environment variable name, such as {@code UNKEY_BUILDERD_PORT}. */
    public String envName() {
        return PREFIX + name();
    }

    public String defaultValue() {
        return defaultValue;
    }

    public String description() {
        return description;
    }

    /** The variable called {@code envName}, if it is one of ours. */
    public static Optional<Variable> byEnvName(String envName) {
        return Arrays.stream(values()).filter(v -> v.envName().equals(envName)).findFirst();
    }

    /** A table of every variable with its default and meaning, for {@code --help} and docs. */
    public static String helpTable() {
        StringBuilder table = new StringBuilder();
        for (Variable variable : values()) {
            table.append(String.format("  %s (default: %s)%n      %s%n", variable.envName(), variable.defaultValue,
                    variable.description));
        }
        return table.toString();
    }
}
