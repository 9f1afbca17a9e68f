package dev.builderd.storage.core.quota;

import dev.builderd.storage.core.error.InvalidInputException;
import dev.builderd.storage.core.model.Tier;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A tenant's limits: its tier's, with any per-tenant overrides applied.
 *
 * @param softPercent usage at or above this share of a limit is reported (warning header, log, metric)
 */
public record Limits(long totalBytes, long artifactBytes, long cacheBytes, int concurrentBuilds, int softPercent,
        HardLimitAction action) {

    /** The soft limit unless overridden: 80%, as the specification says. */
    public static final int DEFAULT_SOFT_PERCENT = 80;

    public Limits {
        if (totalBytes < 0 || artifactBytes < 0 || cacheBytes < 0 || concurrentBuilds < 0) {
            throw new InvalidInputException("limits cannot be negative");
        }
        if (softPercent < 1 || softPercent > 100) {
            throw new InvalidInputException("soft_limit_percent must be from 1 to 100, was " + softPercent);
        }
    }

    /** Per-tenant overrides; empty fields keep the tier's value. */
    public record Overrides(OptionalLong totalBytes, OptionalLong artifactBytes, OptionalLong cacheBytes,
            Optional<Integer> concurrentBuilds, Optional<Integer> softPercent, Optional<HardLimitAction> action) {

        public static final Overrides NONE = new Overrides(OptionalLong.empty(), OptionalLong.empty(), OptionalLong.empty(),
                Optional.empty(), Optional.empty(), Optional.empty());
    }

    /** The tier's limits with {@code overrides} applied; {@code defaultAction} unless overridden. */
    public static Limits of(Tier tier, Overrides overrides, int defaultSoftPercent, HardLimitAction defaultAction) {
        return new Limits(overrides.totalBytes().orElse(tier.totalBytes()),
                overrides.artifactBytes().orElse(tier.artifactBytes()),
                overrides.cacheBytes().orElse(tier.cacheBytes()),
                overrides.concurrentBuilds().orElse(tier.concurrentBuilds()),
                overrides.softPercent().orElse(defaultSoftPercent),
                overrides.action().orElse(defaultAction));
    }

    /** The limit of one category on its own, if it has one (artifacts and cache do; the others count only toward the total). */
    public OptionalLong of(Category category) {
        return switch (category) {
            case ARTIFACTS -> OptionalLong.of(artifactBytes);
            case CACHE -> OptionalLong.of(cacheBytes);
            default -> OptionalLong.empty();
        };
    }

    /** The soft threshold of {@code limit} bytes. */
    public long soft(long limit) {
        return limit / 100 * softPercent + limit % 100 * softPercent / 100;
    }
}
