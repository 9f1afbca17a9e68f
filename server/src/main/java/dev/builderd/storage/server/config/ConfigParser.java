package dev.builderd.storage.server.config;

import dev.builderd.storage.core.Layout;
import dev.builderd.storage.core.metadata.MetadataLocation;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns the environment into a {@link DaemonConfig}: the only place that reads configuration.
 * Every problem found is reported at once, each naming its variable and what it accepts.
 */
public final class ConfigParser {

    private static final Logger LOG = LoggerFactory.getLogger(ConfigParser.class);

    private final Map<String, String> env;
    private final List<String> problems = new ArrayList<>();

    private ConfigParser(Map<String, String> env) {
        this.env = env;
    }

    /** Parses {@code env}; throws {@link ConfigException} listing every invalid variable. */
    public static DaemonConfig parse(Map<String, String> env) {
        return new ConfigParser(env).parse();
    }

    private DaemonConfig parse() {
        warnAboutUnknownVariables();
        int port = integer(Variable.PORT, 0, 65535);
        String bind = text(Variable.BIND_ADDRESS);
        DaemonConfig.Backend backend = backend();
        Path dataRoot = path(Variable.DATA_DIR, null);
        Layout layout = dataRoot == null ? null : new Layout(dataRoot,
                path(Variable.SCRATCH_DIR, dataRoot), path(Variable.WORKSPACE_DIR, dataRoot),
                path(Variable.ROOTFS_OUTPUT_DIR, dataRoot), path(Variable.CACHE_DIR, dataRoot));
        Optional<DaemonConfig.Secret> adminToken = adminToken();
        MetadataLocation metadata = metadata(dataRoot);
        Duration lease = seconds(Variable.BUILD_LEASE_SECONDS);
        Duration maxLease = seconds(Variable.MAX_BUILD_LEASE_SECONDS);
        Duration check = seconds(Variable.LEASE_CHECK_SECONDS);
        if (lease != null && maxLease != null && maxLease.compareTo(lease) < 0) {
            problems.add(Variable.MAX_BUILD_LEASE_SECONDS.envName() + " (" + maxLease.toSeconds() + ") must not be below "
                    + Variable.BUILD_LEASE_SECONDS.envName() + " (" + lease.toSeconds() + ")");
        }
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        return new DaemonConfig(bind, port, backend, layout, adminToken, metadata, lease, maxLease, check);
    }

    private void warnAboutUnknownVariables() {
        env.keySet().stream()
                .filter(name -> name.startsWith(Variable.PREFIX) && Variable.byEnvName(name).isEmpty())
                .sorted()
                .forEach(name -> LOG.warn("{} is set but not used by this version; see --help for the variables it reads", name));
    }

    private String raw(Variable variable) {
        String value = env.get(variable.envName());
        return value == null || value.isBlank() ? null : value.strip();
    }

    private String text(Variable variable) {
        String value = raw(variable);
        return value == null ? variable.defaultValue() : value;
    }

    private <T> T convert(Variable variable, String accepted, Function<String, T> converter) {
        String value = text(variable);
        try {
            return converter.apply(value);
        } catch (RuntimeException e) {
            problems.add(variable.envName() + "='" + value + "' is invalid: " + accepted);
            return null;
        }
    }

    private int integer(Variable variable, int min, int max) {
        Integer value = convert(variable, "use a whole number from " + min + " to " + max, text -> {
            int parsed = Integer.parseInt(text);
            if (parsed < min || parsed > max) {
                throw new IllegalArgumentException();
            }
            return parsed;
        });
        return value == null ? 0 : value;
    }

    private Duration seconds(Variable variable) {
        return convert(variable, "use a whole number of seconds from 1 to 31536000", text -> {
            long parsed = Long.parseLong(text);
            if (parsed < 1 || parsed > 31_536_000) {
                throw new IllegalArgumentException();
            }
            return Duration.ofSeconds(parsed);
        });
    }

    private Path path(Variable variable, Path fallback) {
        String value = raw(variable);
        if (value == null) {
            return fallback != null ? fallback : absolute(variable, variable.defaultValue());
        }
        return absolute(variable, value);
    }

    private Path absolute(Variable variable, String value) {
        try {
            return Path.of(value).toAbsolutePath().normalize();
        } catch (InvalidPathException e) {
            problems.add(variable.envName() + "='" + value + "' is not a valid path: " + e.getReason());
            return null;
        }
    }

    private DaemonConfig.Backend backend() {
        String value = text(Variable.STORAGE_BACKEND).toLowerCase(Locale.ROOT);
        return switch (value) {
            case "filesystem", "local" -> DaemonConfig.Backend.FILESYSTEM;
            default -> {
                problems.add(Variable.STORAGE_BACKEND.envName() + "='" + value
                        + "' is not supported: use filesystem (or its alias local)");
                yield null;
            }
        };
    }

    private Optional<DaemonConfig.Secret> adminToken() {
        String value = raw(Variable.ADMIN_TOKEN);
        if (value == null) {
            return Optional.empty();
        }
        if (value.length() < 16 || value.length() > 256 || !value.chars().allMatch(c -> c > 0x20 && c < 0x7f)) {
            problems.add(Variable.ADMIN_TOKEN.envName() + " is invalid: use 16 to 256 printable ASCII characters without spaces");
            return Optional.empty();
        }
        return Optional.of(new DaemonConfig.Secret(value));
    }

    private MetadataLocation metadata(Path dataRoot) {
        String value = raw(Variable.METADATA_URL);
        if (value == null) {
            return dataRoot == null ? null : MetadataLocation.sqlite(dataRoot.resolve("metadata").resolve("builderd.db"));
        }
        try {
            return MetadataLocation.parse(value);
        } catch (IllegalArgumentException e) {
            problems.add(Variable.METADATA_URL.envName() + " is invalid: " + e.getMessage());
            return null;
        }
    }
}
