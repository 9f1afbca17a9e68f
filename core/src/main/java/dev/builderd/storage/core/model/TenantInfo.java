package dev.builderd.storage.core.model;

import java.time.Instant;

/** A tenant as stored: its tier and whether its data is encrypted at rest. */
public record TenantInfo(TenantId id, Tier tier, boolean encryption, Instant created, Instant updated) {
}
