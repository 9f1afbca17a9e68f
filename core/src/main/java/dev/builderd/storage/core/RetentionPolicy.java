package dev.builderd.storage.core;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.model.Tier;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * What a tenant keeps of its finished builds. The retention janitor deletes a build that
 * succeeded more than {@code artifactMaxAgeDays} ago, unless it is one of the tenant's last
 * {@code keepLastSuccessful} successful builds, and a build that failed more than
 * {@code failedBuildMaxAgeDays} ago; of a build it keeps, it deletes the logs once the build is
 * {@code logMaxAgeDays} old (the last successful builds keep theirs). Active builds are never
 * touched. Ages count from the build's completion.
 *
 * <p>The tier gives every value ({@link #defaults}); a tenant's policy overrides some of them
 * ({@link Overrides}), and the rest follow the tier when it changes.
 */
public record RetentionPolicy(int artifactMaxAgeDays, int keepLastSuccessful, int failedBuildMaxAgeDays, int logMaxAgeDays) {

    /** How many successful builds are kept regardless of age unless a tenant's policy says otherwise. */
    public static final int DEFAULT_KEEP_LAST_SUCCESSFUL = 5;

    /** The settings, their names in JSON (the policy files and the API) and their ranges: the one place they are checked. */
    public enum Field {
        ARTIFACT_MAX_AGE_DAYS("artifact_max_age_days", 1, 36_500),
        KEEP_LAST_SUCCESSFUL("keep_last_successful", 0, 10_000),
        FAILED_BUILD_MAX_AGE_DAYS("failed_build_max_age_days", 1, 36_500),
        LOG_MAX_AGE_DAYS("log_max_age_days", 1, 36_500);

        private final String jsonName;
        private final int min;
        private final int max;

        Field(String jsonName, int min, int max) {
            this.jsonName = jsonName;
            this.min = min;
            this.max = max;
        }

        public String jsonName() {
            return jsonName;
        }

        private static Field byName(String name, String source) {
            return Arrays.stream(values()).filter(field -> field.jsonName.equals(name)).findFirst()
                    .orElseThrow(() -> new InvalidInputException(source + ": unknown field '" + name + "'; known fields: "
                            + Arrays.stream(values()).map(Field::jsonName).collect(Collectors.joining(", "))));
        }

        private int check(JsonNode value, String source) {
            if (!value.canConvertToInt() || !value.isIntegralNumber() || value.asInt() < min || value.asInt() > max) {
                throw new InvalidInputException(source + ": " + jsonName + " must be a whole number from " + min + " to " + max
                        + ", not " + shown(value));
            }
            return value.asInt();
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    /** A value as an error shows it: JSON (so escaped), bounded. */
    private static String shown(JsonNode value) {
        String json = value.toString();
        return json.length() <= 40 ? json : json.substring(0, 40) + "…";
    }

    /** The tier's policy: its retention (DESIGN.md's tier table) for artifacts, failed builds and logs. */
    public static RetentionPolicy defaults(Tier tier) {
        int days = Math.toIntExact(tier.retention().toDays());
        return new RetentionPolicy(days, DEFAULT_KEEP_LAST_SUCCESSFUL, days, days);
    }

    public int value(Field field) {
        return switch (field) {
            case ARTIFACT_MAX_AGE_DAYS -> artifactMaxAgeDays;
            case KEEP_LAST_SUCCESSFUL -> keepLastSuccessful;
            case FAILED_BUILD_MAX_AGE_DAYS -> failedBuildMaxAgeDays;
            case LOG_MAX_AGE_DAYS -> logMaxAgeDays;
        };
    }

    /** This policy with {@code overrides} in place of its values. */
    public RetentionPolicy with(Overrides overrides) {
        Map<Field, Integer> values = new EnumMap<>(Field.class);
        for (Field field : Field.values()) {
            values.put(field, overrides.values().getOrDefault(field, value(field)));
        }
        return new RetentionPolicy(values.get(Field.ARTIFACT_MAX_AGE_DAYS), values.get(Field.KEEP_LAST_SUCCESSFUL),
                values.get(Field.FAILED_BUILD_MAX_AGE_DAYS), values.get(Field.LOG_MAX_AGE_DAYS));
    }

    /** The policy as JSON fields, by their names. */
    public Map<String, Integer> toJson() {
        Map<String, Integer> json = new LinkedHashMap<>();
        for (Field field : Field.values()) {
            json.put(field.jsonName(), value(field));
        }
        return json;
    }

    /** A tenant's own values: the fields it sets; the others come from its tier. */
    public record Overrides(Map<Field, Integer> values) {

        public static final Overrides NONE = new Overrides(Map.of());

        public Overrides {
            values = Map.copyOf(values);
        }

        /**
         * Parses and checks a JSON object such as {@code {"keep_last_successful": 10}}; an error
         * names {@code source} (the file or the request) and the field at fault.
         *
         * @throws InvalidInputException when the JSON is malformed, not an object, has an unknown
         *     field, or a value out of its range
         */
        public static Overrides parse(byte[] json, String source) {
            JsonNode root;
            try {
                root = JSON.readTree(json);
            } catch (JsonProcessingException e) {
                throw new InvalidInputException(source + " is not valid JSON: " + e.getOriginalMessage());
            } catch (java.io.IOException e) {
                throw new InvalidInputException(source + " could not be read: " + e.getMessage());
            }
            if (root == null || !root.isObject()) {
                throw new InvalidInputException(source + " must be a JSON object with some of the fields "
                        + Arrays.stream(Field.values()).map(Field::jsonName).collect(Collectors.joining(", ")));
            }
            Map<Field, Integer> values = new EnumMap<>(Field.class);
            for (Iterator<Map.Entry<String, JsonNode>> fields = root.fields(); fields.hasNext(); ) {
                Map.Entry<String, JsonNode> entry = fields.next();
                Field field = Field.byName(entry.getKey(), source);
                values.put(field, field.check(entry.getValue(), source));
            }
            return new Overrides(values);
        }

        /** The overrides as JSON bytes, fields in their fixed order: what a policy file holds. */
        public byte[] toJsonBytes() {
            try {
                return JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(toJson());
            } catch (JsonProcessingException e) {
                throw new IllegalStateException(e);
            }
        }

        public Map<String, Integer> toJson() {
            Map<String, Integer> json = new LinkedHashMap<>();
            for (Field field : Field.values()) {
                if (values.containsKey(field)) {
                    json.put(field.jsonName(), values.get(field));
                }
            }
            return json;
        }
    }
}
