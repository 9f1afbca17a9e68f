package dev.builderd.storage.server.crash;

/** A build of a tenant. */
record BuildKey(String tenant, String build) {

    /** What the client may find of a build: not there, active, or completed. */
    enum State { ABSENT, ACTIVE, COMPLETED }

    String path() {
        return "/v1/tenants/" + tenant + "/builds/" + build;
    }

    String blobPrefix() {
        return "tenants/" + tenant + "/builds/" + build + "/";
    }

    @Override
    public String toString() {
        return tenant + "/" + build;
    }
}
