package dev.builderd.storage.core.fs;

import dev.builderd.storage.core.Layout;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.TenantId;
import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.GroupPrincipal;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.nio.file.attribute.UserPrincipalLookupService;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Who may enter a tenant's directory trees, applied and checked. Every tenant directory the
 * service creates is owned by the service user with mode {@code 0700}; where the {@code acl}
 * tools exist it also carries the specification's ACL, as access and as default entries (so
 * everything created below inherits it): the service user {@code rwx}, the tenant's group
 * {@code rwx}, everyone else nothing. The tenant's group is the system group
 * {@code <account prefix><tenant>} if it exists; the service never creates accounts.
 *
 * <p>What was applied is read back ({@code getfacl}) and compared: when the tree is secured, and
 * whenever {@link #verify} runs. A difference is logged and kept, per tenant, for the health
 * report ({@link #mismatches}) until a later check finds the tree as specified again.
 *
 * <p>With {@link WorkspaceOwner#TENANT}, the {@code workspace/} and {@code temp/} a build is
 * handed belong to the tenant's own system user {@code <account prefix><tenant>} and its group,
 * so build processes can run under a per-tenant UID.
 */
public final class TenantIsolation {

    private static final Logger LOG = LoggerFactory.getLogger(TenantIsolation.class);
    private static final Pattern ACCOUNT_PREFIX = Pattern.compile("[a-z_][a-z0-9_-]{0,15}");

    /** Who owns a build's {@code workspace/} and {@code temp/}. */
    public enum WorkspaceOwner {
        /** The service user, like every other directory. */
        SERVICE,
        /** The tenant's system user {@code <account prefix><tenant>} and its group (needs CAP_CHOWN, CAP_FOWNER and CAP_DAC_OVERRIDE). */
        TENANT;

        /** {@code service} or {@code tenant}. */
        public static WorkspaceOwner parse(String text) {
            return valueOf(text.toUpperCase(Locale.ROOT));
        }
    }

    /**
     * @param accountPrefix the tenant {@code acme}'s group (and, with {@link WorkspaceOwner#TENANT},
     *     user) is named this prefix followed by {@code acme}: a lowercase letter or {@code _}, then
     *     up to 15 lowercase letters, digits, {@code _} or {@code -}
     * @param workspaceOwner who owns the directories build processes write into
     */
    public record Settings(String accountPrefix, WorkspaceOwner workspaceOwner) {

        /** Groups named {@code builderd-t-<tenant>}; workspaces owned by the service user. */
        public static final Settings DEFAULTS = new Settings("builderd-t-", WorkspaceOwner.SERVICE);

        public Settings {
            if (!ACCOUNT_PREFIX.matcher(accountPrefix).matches()) {
                throw new IllegalArgumentException("the account prefix must be a lowercase letter or '_' followed by up to 15"
                        + " lowercase letters, digits, '_' or '-', not '" + accountPrefix + "'");
            }
        }
    }

    /** How a tenant's trees are protected. */
    public enum Protection {
        /** Mode 0700 and the specification's POSIX ACL. */
        ACL("acl"),
        /** Mode 0700 only: the {@code acl} tools are not installed. */
        MODE_ONLY("mode-0700");

        private final String wireName;

        Protection(String wireName) {
            this.wireName = wireName;
        }

        public String wireName() {
            return wireName;
        }
    }

    /**
     * The outcome of a check of one tenant's trees.
     *
     * @param group the tenant's group in the ACL, empty when it has none (no such group, or no ACLs)
     * @param problems every way the trees differ from what is specified; empty when they are as specified
     * @param notes what an operator should know although nothing is wrong (such as a missing group)
     */
    public record Status(TenantId tenant, Protection protection, String serviceUser, Optional<String> group,
            List<String> problems, List<String> notes) {

        public Status {
            problems = List.copyOf(problems);
            notes = List.copyOf(notes);
        }

        public boolean asSpecified() {
            return problems.isEmpty();
        }
    }

    private final Layout layout;
    private final Settings settings;
    private final Optional<PosixAcls> acls;
    private final String serviceUser;
    private final UserPrincipalLookupService accounts = FileSystems.getDefault().getUserPrincipalLookupService();
    private final Map<TenantId, Status> mismatches = new ConcurrentHashMap<>();

    /**
     * @param acls the ACL tools, or empty to protect by mode alone
     */
    public TenantIsolation(Layout layout, Settings settings, Optional<PosixAcls> acls) {
        this.layout = layout;
        this.settings = settings;
        this.acls = acls;
        this.serviceUser = System.getProperty("user.name");
    }

    public Protection protection() {
        return acls.isPresent() ? Protection.ACL : Protection.MODE_ONLY;
    }

    public Settings settings() {
        return settings;
    }

    /**
     * Checks, at start-up, that this process can give workspaces to tenants' users when it is
     * configured to, and opens the way to them: the {@code tenants/} directory of the workspace
     * and scratch roots becomes {@code 0711} (enter, not list), since a tenant's user must pass
     * through it to reach its own tree, which its group's ACL opens.
     *
     * @throws IllegalStateException saying what is missing: the ACL tools, the privilege to
     *     change a directory's owner (root, or CAP_CHOWN), or a workspace or scratch root the
     *     tenants' users can enter
     */
    public void checkWorkspaceOwnership() throws IOException {
        if (settings.workspaceOwner() != WorkspaceOwner.TENANT) {
            return;
        }
        if (acls.isEmpty()) {
            throw new IllegalStateException("workspaces owned by the tenants' users need the tenant group's ACL on the tenant trees,"
                    + " and setfacl/getfacl are not installed (Debian: apt-get install acl)");
        }
        Path probe = Files.createTempDirectory(layout.dataRoot().resolve("tenants"), ".chown-probe-");
        try {
            PosixFileAttributeView view = Files.getFileAttributeView(probe, PosixFileAttributeView.class, LinkOption.NOFOLLOW_LINKS);
            // Giving the directory away (to anyone else) and taking it back needs the privilege a workspace's hand-over needs.
            UserPrincipal self = view.getOwner();
            view.setOwner(accounts.lookupPrincipalByName(self.getName().equals("root") ? "nobody" : "root"));
            view.setOwner(self);
        } catch (FileSystemException e) {
            throw new IllegalStateException("workspaces owned by the tenants' users need the privilege to change a directory's"
                    + " owner (run as root, or grant CAP_CHOWN, CAP_FOWNER and CAP_DAC_OVERRIDE: deploy/systemd/tenant-owned-workspaces.conf): "
                    + e.getMessage(), e);
        } finally {
            Files.deleteIfExists(probe);
        }
        for (Path root : List.of(layout.workspaceRoot(), layout.scratchRoot())) {
            if (!Files.getPosixFilePermissions(root).contains(PosixFilePermission.OTHERS_EXECUTE)) {
                throw new IllegalStateException("workspaces owned by the tenants' users need " + root + " to be enterable by"
                        + " them (chmod 0711 " + root + "); to keep the data root 0700, give workspaces and temp directories"
                        + " their own root with UNKEY_BUILDERD_WORKSPACE_DIR and UNKEY_BUILDERD_SCRATCH_DIR");
            }
            Files.setPosixFilePermissions(root.resolve("tenants"), PosixFilePermissions.fromString("rwx--x--x"));
        }
    }

    /**
     * Applies the ACL to the directories the service made for {@code tenant} (its directory in
     * every category root, {@code builds/}, {@code cache/} and the cache types; their future
     * contents inherit the default entries), then verifies them. Without the ACL tools only the
     * verification of owner and mode runs. A {@code setfacl} that fails (a filesystem without
     * ACL support, say) does not stop the tenant, which mode {@code 0700} still protects: the
     * failure is among the status's problems, and so in the health report.
     */
    public Status secure(TenantId tenant) {
        if (acls.isPresent()) {
            try {
                acls.get().modify(skeleton(tenant), entries(tenantGroup(tenant)));
            } catch (IOException e) {
                return check(tenant, Optional.of("cannot apply the ACL: " + e.getMessage()));
            }
        }
        return verify(tenant);
    }

    /**
     * Compares {@code tenant}'s directories with what is specified, now: owner, mode and, with
     * the ACL tools, every entry. A difference is logged and kept for {@link #mismatches}.
     */
    public Status verify(TenantId tenant) {
        return check(tenant, Optional.empty());
    }

    private Status check(TenantId tenant, Optional<String> applyFailure) {
        Optional<String> group = tenantGroup(tenant);
        List<String> problems = new ArrayList<>(applyFailure.stream().toList());
        List<String> notes = new ArrayList<>();
        List<Path> directories = skeleton(tenant);
        try {
            for (Path directory : directories) {
                ownerAndMode(directory).ifPresent(problems::add);
            }
            if (acls.isPresent()) {
                Set<String> expected = new LinkedHashSet<>(entries(group));
                expected.addAll(List.of("user::rwx", "group::---", "default:user::rwx", "default:group::---"));
                acls.get().read(directories).forEach((directory, actual) -> difference(directory, expected, actual)
                        .ifPresent(problems::add));
            } else {
                notes.add("setfacl/getfacl are not installed (Debian: apt-get install acl): protected by owner and mode 0700 only");
            }
        } catch (IOException e) {
            problems.add("cannot check: " + e.getMessage());
        }
        if (acls.isPresent() && group.isEmpty()) {
            notes.add("group " + account(tenant) + " does not exist: only the service user has access (create it with"
                    + " 'groupadd " + account(tenant) + "', then PUT the tenant again to apply its ACL)");
        }
        Status status = new Status(tenant, protection(), serviceUser, group, problems, notes);
        if (status.asSpecified()) {
            mismatches.remove(tenant);
        } else {
            mismatches.put(tenant, status);
            LOG.warn("the directories of tenant {} are not protected as specified: {}", tenant, String.join("; ", problems));
        }
        return status;
    }

    /** The tenants whose last check found a difference, by tenant. */
    public Map<TenantId, Status> mismatches() {
        Map<TenantId, Status> sorted = new TreeMap<>(Comparator.comparing(TenantId::value));
        sorted.putAll(mismatches);
        return sorted;
    }

    /** Drops what is known about a purged tenant. */
    public void forget(TenantId tenant) {
        mismatches.remove(tenant);
    }

    /**
     * Finishes a build's new directories: gives them the tenant's ACL in full (a directory
     * created {@code 0700} under a default ACL gets an empty mask, which would shut the
     * tenant's group out), then, with {@link WorkspaceOwner#TENANT}, gives {@code workspace/}
     * and {@code temp/} to the tenant's user and group.
     *
     * @throws IOException naming the missing account or privilege
     */
    public void handOver(BuildRef ref) throws IOException {
        if (acls.isPresent()) {
            // What Layout.createBuildDirectories made: a root without any of the build's directories (the cache root) has none.
            List<Path> directories = layout.buildPaths(ref).withBuildDirectories();
            try {
                acls.get().modify(directories, entries(tenantGroup(ref.tenant())));
            } catch (IOException e) {
                // Mode 0700 still protects the build; only a tenant-owned workspace is unreachable without its group's entry.
                if (settings.workspaceOwner() == WorkspaceOwner.TENANT) {
                    throw e;
                }
                LOG.warn("the ACL of build {} could not be applied (mode 0700 protects it): {}", ref, e.getMessage());
            }
        }
        if (settings.workspaceOwner() == WorkspaceOwner.TENANT) {
            String account = account(ref.tenant());
            UserPrincipal user;
            GroupPrincipal group;
            try {
                user = accounts.lookupPrincipalByName(account);
                group = accounts.lookupPrincipalByGroupName(account);
            } catch (UserPrincipalNotFoundException e) {
                throw new IOException("the workspace of tenant " + ref.tenant() + " is to be owned by the system user and group "
                        + account + ", which do not exist: create them with 'useradd --system --user-group " + account + "'");
            }
            for (Layout.RootedPath directory : layout.scratchDirectories(ref)) {
                PosixFileAttributeView view = Files.getFileAttributeView(directory.path(), PosixFileAttributeView.class,
                        LinkOption.NOFOLLOW_LINKS);
                try {
                    view.setOwner(user);
                    view.setGroup(group);
                } catch (FileSystemException e) {
                    throw new IOException("cannot give " + directory.path() + " to " + account + " (the service needs root or"
                            + " CAP_CHOWN): " + e.getMessage(), e);
                }
            }
        }
    }

    /** The name of {@code tenant}'s system group (and user): the account prefix and the tenant ID. */
    public String account(TenantId tenant) {
        return settings.accountPrefix() + tenant.value();
    }

    private Optional<String> tenantGroup(TenantId tenant) {
        if (acls.isEmpty()) {
            return Optional.empty();
        }
        try {
            return Optional.of(accounts.lookupPrincipalByGroupName(account(tenant)).getName());
        } catch (IOException noSuchGroup) {
            return Optional.empty();
        }
    }

    /** The specification's entries, access and default alike. */
    private List<String> entries(Optional<String> group) {
        List<String> access = new ArrayList<>(List.of("user:" + serviceUser + ":rwx"));
        group.ifPresent(name -> access.add("group:" + name + ":rwx"));
        access.addAll(List.of("mask::rwx", "other::---"));
        List<String> all = new ArrayList<>(access);
        access.forEach(entry -> all.add("default:" + entry));
        return all;
    }

    /** The directories the service makes for a tenant, in every root: what the ACL is applied to and checked on. */
    private List<Path> skeleton(TenantId tenant) {
        List<Path> directories = new ArrayList<>();
        for (Path root : layout.tenantRoots()) {
            directories.add(layout.tenantDirectory(root, tenant));
            directories.add(layout.tenantDirectory(root, tenant).resolve("builds"));
        }
        Path cache = layout.tenantDirectory(layout.cacheRoot(), tenant).resolve("cache");
        directories.add(cache);
        for (String type : Layout.CACHE_TYPE_DIRECTORIES) {
            directories.add(cache.resolve(type));
        }
        return directories;
    }

    private Optional<String> ownerAndMode(Path directory) throws IOException {
        PosixFileAttributes attributes = Files.readAttributes(directory, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (!attributes.isDirectory()) {
            return Optional.of(directory + ": not a directory");
        }
        if (!attributes.owner().getName().equals(serviceUser)) {
            return Optional.of(directory + ": owned by " + attributes.owner().getName() + ", not the service user " + serviceUser);
        }
        if (acls.isPresent()) {
            // The mode is the ACL's user::, mask:: and other:: entries, which the ACL check compares.
            return Optional.empty();
        }
        String mode = PosixFilePermissions.toString(attributes.permissions());
        return mode.equals("rwx------") ? Optional.empty() : Optional.of(directory + ": mode " + mode + ", not rwx------");
    }

    private static Optional<String> difference(Path directory, Set<String> expected, Set<String> actual) {
        List<String> missing = expected.stream().filter(entry -> !actual.contains(entry)).toList();
        List<String> unexpected = actual.stream().filter(entry -> !expected.contains(entry)).toList();
        if (missing.isEmpty() && unexpected.isEmpty()) {
            return Optional.empty();
        }
        List<String> parts = new ArrayList<>();
        if (!missing.isEmpty()) {
            parts.add("missing " + String.join(",", missing));
        }
        if (!unexpected.isEmpty()) {
            parts.add("unexpected " + String.join(",", unexpected));
        }
        return Optional.of(directory + ": ACL " + String.join("; ", parts));
    }
}
