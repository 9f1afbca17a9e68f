package dev.builderd.storage.server.crash;

/**
 * One name the workload writes: an artifact or a log of a build, or a cache entry of a tenant.
 *
 * @param owner the build ID for artifacts and logs, the cache type for cache entries
 * @param name the artifact or log name, or the cache key
 */
record Target(Kind kind, String tenant, String owner, String name) {

    enum Kind { ARTIFACT, LOG, CACHE }

    static Target artifact(BuildKey build, String name) {
        return new Target(Kind.ARTIFACT, build.tenant(), build.build(), name);
    }

    static Target log(BuildKey build, String name) {
        return new Target(Kind.LOG, build.tenant(), build.build(), name);
    }

    static Target cache(String tenant, String type, String key) {
        return new Target(Kind.CACHE, tenant, type, key);
    }

    /** The build it belongs to, for artifacts and logs. */
    BuildKey build() {
        if (kind == Kind.CACHE) {
            throw new IllegalStateException(this + " belongs to no build");
        }
        return new BuildKey(tenant, owner);
    }

    /** Its path in the HTTP API. */
    String path() {
        return switch (kind) {
            case ARTIFACT -> build().path() + "/artifacts/" + name;
            case LOG -> build().path() + "/logs/" + name;
            case CACHE -> "/v1/tenants/" + tenant + "/cache/" + owner + "/" + name;
        };
    }

    /** Its key in the storage backend (the layout of docs/backends.md). */
    String blobKey() {
        return switch (kind) {
            case ARTIFACT -> build().blobPrefix() + "rootfs/" + name;
            case LOG -> build().blobPrefix() + "logs/" + name;
            case CACHE -> "tenants/" + tenant + "/cache/" + owner + "/" + name;
        };
    }

    @Override
    public String toString() {
        return kind.name().toLowerCase(java.util.Locale.ROOT) + " " + tenant + "/" + owner + "/" + name;
    }
}
