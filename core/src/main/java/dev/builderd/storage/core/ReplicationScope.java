package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobStore;
import java.util.List;
import java.util.function.Predicate;

/**
 * Which blobs are replicated, and which category's store holds each: the one place with these
 * rules. Build artifacts (with their manifest and checksums) and build logs always are; tenants'
 * caches and the global registry cache only when {@code caches} is set (they can be rebuilt, and
 * they churn). Nothing else is: workspace and temp are scratch, and the probe keys of health
 * checks are not data.
 */
public record ReplicationScope(boolean caches) implements Predicate<BlobKey> {

    private static final String GLOBAL_LAYERS = "global/registry-cache/";

    /** The category a replicated key belongs to. */
    public enum Category { ARTIFACTS, LOGS, CACHES }

    @Override
    public boolean test(BlobKey key) {
        Category category = categoryOf(key);
        return category != null && (category != Category.CACHES || caches);
    }

    /** The key prefixes under which every replicated key lies, for walks that list them. */
    public List<String> prefixes() {
        return caches ? List.of(GLOBAL_LAYERS, "tenants/") : List.of("tenants/");
    }

    /** The store of {@code stores} that holds {@code key}, which this scope replicates. */
    BlobStore storeOf(BlobKey key, Stores stores) {
        return switch (categoryOf(key)) {
            case ARTIFACTS -> stores.artifacts();
            case LOGS -> stores.logs();
            case CACHES -> stores.caches();
            case null -> throw new IllegalArgumentException(key + " is not a replicated key");
        };
    }

    /** {@code tenants/{t}/builds/{b}/rootfs/...}, {@code .../logs/...}, {@code tenants/{t}/cache/...}, {@code global/registry-cache/...}; else null. */
    private static Category categoryOf(BlobKey key) {
        String value = key.value();
        if (value.startsWith(GLOBAL_LAYERS)) {
            return Category.CACHES;
        }
        String[] parts = value.split("/", 6);
        if (parts.length < 4 || !parts[0].equals("tenants")) {
            return null;
        }
        if (parts[2].equals("cache")) {
            return Category.CACHES;
        }
        if (parts.length == 6 && parts[2].equals("builds")) {
            return switch (parts[4]) {
                case "rootfs" -> Category.ARTIFACTS;
                case "logs" -> Category.LOGS;
                default -> null;
            };
        }
        return null;
    }
}
