package dev.builderd.storage.server.config;

import java.util.List;

/** The environment holds values the daemon cannot start with; the message names each variable. */
public final class ConfigException extends RuntimeException {

    public ConfigException(List<String> problems) {
        super("invalid configuration:\n  - " + String.join("\n  - ", problems));
    }
}
