package dev.builderd.storage.core;

import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.FileName;
import dev.builderd.storage.core.model.TenantId;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * The directory tree of the specification, and the only place that turns IDs into paths and
 * blob keys. Each storage category has a root (all default to the data root); under every root
 * the tree has the same shape, {@code tenants/{tenant}/builds/{build}/{category}}, so moving a
 * category to another mount ({@code UNKEY_BUILDERD_*_DIR}) changes only its root.
 *
 * <p>Tenant directories and everything the service creates below them are {@code 0700}.
 */
public record Layout(Path dataRoot, Path scratchRoot, Path workspaceRoot, Path rootfsRoot, Path cacheRoot) {

    private static final FileAttribute<Set<PosixFilePermission>> PRIVATE =
            PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------"));

    public Layout {
        dataRoot = dataRoot.toAbsolutePath().normalize();
        scratchRoot = scratchRoot.toAbsolutePath().normalize();
        workspaceRoot = workspaceRoot.toAbsolutePath().normalize();
        rootfsRoot = rootfsRoot.toAbsolutePath().normalize();
        cacheRoot = cacheRoot.toAbsolutePath().normalize();
    }

    /** Every category under one data root. */
    public static Layout under(Path dataRoot) {
        return new Layout(dataRoot, dataRoot, dataRoot, dataRoot, dataRoot);
    }

    /** The absolute directories of one build, as handed to its worker. */
    public record BuildPaths(Path workspace, Path rootfs, Path temp, Path logs, Path metadata) {
        /** Every directory of the build, with the build's directory in each root they lie in (no repeats). */
        public List<Path> withBuildDirectories() {
            return java.util.stream.Stream.of(workspace, rootfs, temp, logs, metadata)
                    .flatMap(path -> java.util.stream.Stream.of(path.getParent(), path)).distinct().toList();
        }
    }

    /** The directories of a tenant's cache tree, one per cache type, below {@code tenants/<tenant>/cache/}. */
    public static final List<String> CACHE_TYPE_DIRECTORIES = List.of("docker-layers", "dependencies", "git-repos");

    /** A directory and the category root it lives under. */
    public record RootedPath(Path root, Path path) {
    }

    /** The directories build processes write into directly, which the service cleans when the build ends. */
    public List<RootedPath> scratchDirectories(BuildRef ref) {
        BuildPaths paths = buildPaths(ref);
        return List.of(new RootedPath(workspaceRoot, paths.workspace()), new RootedPath(scratchRoot, paths.temp()));
    }

    public BuildPaths buildPaths(BuildRef ref) {
        return new BuildPaths(
                buildDirectory(workspaceRoot, ref).resolve("workspace"),
                buildDirectory(rootfsRoot, ref).resolve("rootfs"),
                buildDirectory(scratchRoot, ref).resolve("temp"),
                buildDirectory(dataRoot, ref).resolve("logs"),
                buildDirectory(dataRoot, ref).resolve("metadata"));
    }

    /** The roots that hold tenant trees, without repeats. */
    public List<Path> tenantRoots() {
        return List.of(dataRoot, scratchRoot, workspaceRoot, rootfsRoot, cacheRoot).stream().distinct().toList();
    }

    public Path tenantDirectory(Path root, TenantId tenant) {
        return root.resolve("tenants").resolve(tenant.value());
    }

    public Path buildDirectory(Path root, BuildRef ref) {
        return tenantDirectory(root, ref.tenant()).resolve("builds").resolve(ref.build().value());
    }

    /** Key of an artifact in the artifact store (rooted at {@link #rootfsRoot}). */
    public BlobKey artifactKey(BuildRef ref, FileName name) {
        return BlobKey.of(buildKeyPrefix(ref) + "rootfs/" + name.value());
    }

    /** Key of a service-written file (manifest, checksums) beside the artifacts. */
    public BlobKey rootfsKey(BuildRef ref, String serviceFileName) {
        return BlobKey.of(buildKeyPrefix(ref) + "rootfs/" + serviceFileName);
    }

    /** Key of a log in the log store (rooted at {@link #dataRoot}). */
    public BlobKey logKey(BuildRef ref, FileName name) {
        return BlobKey.of(logKeyPrefix(ref) + name.value());
    }

    public String logKeyPrefix(BuildRef ref) {
        return buildKeyPrefix(ref) + "logs/";
    }

    /** The key prefix of everything of one build, in any store. */
    public String buildKeyPrefix(BuildRef ref) {
        return tenantKeyPrefix(ref.tenant()) + "builds/" + ref.build().value() + "/";
    }

    /** The key prefix of everything of one tenant, in any store. */
    public String tenantKeyPrefix(TenantId tenant) {
        return "tenants/" + tenant.value() + "/";
    }

    /** Where the master key and the tenants' keysets live: {@code config/encryption-keys/} under the data root. */
    public Path encryptionKeyDirectory() {
        return dataRoot.resolve("config").resolve("encryption-keys");
    }

    /** The tenant a key belongs to ({@code tenants/{t}/...}), or empty for keys outside tenants. */
    public Optional<TenantId> tenantOf(BlobKey key) {
        String[] parts = key.value().split("/", 3);
        if (parts.length < 3 || !parts[0].equals("tenants")) {
            return Optional.empty();
        }
        try {
            return Optional.of(TenantId.of(parts[1]));
        } catch (RuntimeException notATenant) {
            return Optional.empty();
        }
    }

    /** The build a key belongs to ({@code tenants/{t}/builds/{b}/...}), or empty for keys outside builds. */
    public Optional<BuildRef> buildOf(BlobKey key) {
        String[] parts = key.value().split("/", 5);
        if (parts.length < 5 || !parts[0].equals("tenants") || !parts[2].equals("builds")) {
            return Optional.empty();
        }
        try {
            return Optional.of(new BuildRef(TenantId.of(parts[1]), BuildId.of(parts[3])));
        } catch (RuntimeException notABuild) {
            return Optional.empty();
        }
    }

    /** Creates the fixed top of the tree: {@code tenants/}, {@code global/*}, {@code config/*}. */
    public void createSkeleton() throws IOException {
        for (String directory : List.of("tenants", "global/registry-cache", "global/system-temp", "global/metrics",
                "config/encryption-keys", "config/retention-policies")) {
            createPrivateDirectories(dataRoot, dataRoot.resolve(directory));
        }
        for (Path root : tenantRoots()) {
            createPrivateDirectories(root, root.resolve("tenants"));
        }
    }

    /** Creates a tenant's directories (its cache tree included) in every category root. */
    public void createTenantDirectories(TenantId tenant) throws IOException {
        for (Path root : tenantRoots()) {
            createPrivateDirectories(root, tenantDirectory(root, tenant).resolve("builds"));
        }
        Path cache = tenantDirectory(cacheRoot, tenant).resolve("cache");
        for (String type : CACHE_TYPE_DIRECTORIES) {
            createPrivateDirectories(cacheRoot, cache.resolve(type));
        }
    }

    /** Creates every directory of a build, each {@code 0700}. */
    public void createBuildDirectories(BuildRef ref) throws IOException {
        createTenantDirectories(ref.tenant());
        BuildPaths paths = buildPaths(ref);
        createPrivateDirectories(workspaceRoot, paths.workspace());
        createPrivateDirectories(rootfsRoot, paths.rootfs());
        createPrivateDirectories(scratchRoot, paths.temp());
        createPrivateDirectories(dataRoot, paths.logs());
        createPrivateDirectories(dataRoot, paths.metadata());
    }

    /**
     * Creates {@code directory} and its missing parents below {@code root} with mode 0700,
     * refusing to pass through anything that is not a real directory (a planted symbolic link).
     */
    private static void createPrivateDirectories(Path root, Path directory) throws IOException {
        Files.createDirectories(root);
        Path current = root;
        for (Path segment : root.relativize(directory)) {
            current = current.resolve(segment);
            try {
                Files.createDirectory(current, PRIVATE);
            } catch (FileAlreadyExistsException e) {
                if (!Files.isDirectory(current, LinkOption.NOFOLLOW_LINKS)) {
                    throw new IOException(current + " exists and is not a directory (a symbolic link is never followed)");
                }
            }
        }
    }
}
