package dev.builderd.storage.core.model;

import dev.builderd.storage.core.error.InvalidInputException;
import java.util.regex.Pattern;

/** The syntax rules of every identifier and name that reaches the core from outside. */
final class Names {

    /** Tenant and build IDs: lowercase letters, digits and dashes, starting with a letter or digit. */
    static final Pattern ID = Pattern.compile("[a-z0-9][a-z0-9-]{0,62}");
    /** Artifact and log names: one path segment of safe characters, not hidden. */
    static final Pattern FILE_NAME = Pattern.compile("[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}");

    private Names() {
    }

    static String require(Pattern pattern, String value, String what, String rule) {
        if (value == null || !pattern.matcher(value).matches()) {
            throw new InvalidInputException(what + " " + quote(value) + " is invalid: " + rule);
        }
        return value;
    }

    /** Quotes untrusted text for an error message: control characters escaped, length bounded. */
    static String quote(String value) {
        if (value == null) {
            return "(missing)";
        }
        StringBuilder out = new StringBuilder("'");
        value.codePoints().limit(80).forEach(cp -> {
            if (Character.isISOControl(cp) || cp > 0x7e) {
                out.append(String.format("\\u{%x}", cp));
            } else {
                out.appendCodePoint(cp);
            }
        });
        return out.append(value.codePointCount(0, value.length()) > 80 ? "…'" : "'").toString();
    }
}
