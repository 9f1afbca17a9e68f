package dev.builderd.storage.core.model;

import java.util.Objects;

/** A build of a tenant. */
public record BuildRef(TenantId tenant, BuildId build) {

    public BuildRef {
        Objects.requireNonNull(tenant, "tenant");
        Objects.requireNonNull(build, "build");
    }

    @Override
    public String toString() {
        return tenant + "/" + build;
    }
}
