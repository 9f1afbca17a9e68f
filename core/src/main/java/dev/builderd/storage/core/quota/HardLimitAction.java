package dev.builderd.storage.core.quota;

import dev.builderd.storage.core.error.InvalidInputException;
import java.util.Locale;

/** What a write that would pass a hard limit gets. */
public enum HardLimitAction {
    /** 507 at once, with the limit, the usage and what would free space. */
    REJECT,
    /** First the tenant's cache is cleaned (never its artifacts), then the write waits, bounded, for space; then 507. */
    THROTTLE;

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static HardLimitAction parse(String name) {
        for (HardLimitAction action : values()) {
            if (action.wireName().equals(name)) {
                return action;
            }
        }
        throw new InvalidInputException("hard_limit_action '" + name + "' is unknown: use reject or throttle");
    }
}
