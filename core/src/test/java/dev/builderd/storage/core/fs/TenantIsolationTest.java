package dev.builderd.storage.core.fs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.builderd.storage.blob.FileBlobStore;
import dev.builderd.storage.core.BuildService;
import dev.builderd.storage.core.BuilderdStorage;
import dev.builderd.storage.core.CoreConfig;
import dev.builderd.storage.core.Layout;
import dev.builderd.storage.core.Stores;
import dev.builderd.storage.core.metadata.MetadataLocation;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.model.BuildId;
import dev.builderd.storage.core.model.BuildRef;
import dev.builderd.storage.core.model.BuildStatus;
import dev.builderd.storage.core.model.Principal;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.Tier;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tenant trees as the daemon leaves them, checked with the real {@code setfacl}/{@code getfacl}
 * (the {@code acl} package, which {@code bin/test} installs) and real system accounts (root
 * only: CI and {@code bin/test} run as root). Every category has its own root, as with
 * {@code UNKEY_BUILDERD_*_DIR}, so each tree is checked in each root.
 */
class TenantIsolationTest {

    static final Principal ADMIN = new Principal.Admin();
    static final String SERVICE_USER = System.getProperty("user.name");

    @TempDir
    Path base;
    @TempDir
    Path outside;
    Layout layout;
    TenantId tenant;
    String account;
    SystemAccounts accounts = new SystemAccounts();
    MetadataStore metadata;
    BuilderdStorage storage;

    @BeforeEach
    void layout() throws IOException {
        layout = new Layout(base.resolve("data"), base.resolve("scratch"), base.resolve("workspace"), base.resolve("rootfs"),
                base.resolve("cache"));
        String random = Integer.toString(new Random().nextInt(1 << 30), 36);
        tenant = TenantId.of("fs" + random);
        account = "builderd-t-" + tenant.value();
    }

    BuilderdStorage open(TenantIsolation.Settings settings) throws IOException {
        metadata = MetadataStore.open(MetadataLocation.sqlite(layout.dataRoot().resolve("metadata/builderd.db")));
        CoreConfig config = CoreConfig.defaults(layout).withIsolation(settings);
        storage = new BuilderdStorage(config, metadata, Stores.single(new FileBlobStore(layout.dataRoot())), "admin-token-for-tests",
                Clock.systemUTC());
        return storage;
    }

    @AfterEach
    void close() throws Exception {
        if (storage != null) {
            storage.close();
            metadata.close();
        }
        accounts.close();
    }

    static PosixAcls acls() {
        Optional<PosixAcls> found = PosixAcls.find();
        assumeTrue(found.isPresent(), "setfacl/getfacl are not installed (bin/test installs the acl package as root)");
        return found.get();
    }

    static void assumeRoot() {
        assumeTrue(SERVICE_USER.equals("root"), "creating system accounts and changing owners needs root");
    }

    static Set<String> specified(String group) {
        Set<String> entries = new java.util.TreeSet<>();
        for (String prefix : List.of("", "default:")) {
            entries.addAll(List.of(prefix + "user::rwx", prefix + "user:" + SERVICE_USER + ":rwx", prefix + "group::---",
                    prefix + "group:" + group + ":rwx", prefix + "mask::rwx", prefix + "other::---"));
        }
        return entries;
    }

    List<Path> tenantTrees() {
        return layout.tenantRoots().stream().map(root -> layout.tenantDirectory(root, tenant)).toList();
    }

    @Test
    void aNewTenantTreeCarriesTheSpecifiedAclAndEverythingCreatedLaterInheritsIt() throws Exception {
        PosixAcls acls = acls();
        assumeRoot();
        accounts.group(account);
        open(TenantIsolation.Settings.DEFAULTS);

        storage.tenants().put(ADMIN, tenant, Tier.PRO, false);

        assertThat(tenantTrees()).hasSize(5);
        for (Path tree : tenantTrees()) {
            assertThat(Files.getOwner(tree).getName()).isEqualTo(SERVICE_USER);
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(tree))).isEqualTo("rwxrwx---");
            assertThat(acls.read(List.of(tree)).get(tree)).containsExactlyInAnyOrderElementsOf(specified(account));
        }
        Path later = Files.createDirectories(layout.tenantDirectory(layout.cacheRoot(), tenant).resolve("cache/dependencies/npm/x"));
        assertThat(acls.read(List.of(later)).get(later)).containsExactlyInAnyOrderElementsOf(specified(account));
        BuildService.BuildView build = storage.builds().create(ADMIN, tenant, Optional.of(BuildId.of("b1")), Duration.ofMinutes(5));
        Layout.BuildPaths paths = build.paths().orElseThrow();
        for (Path directory : List.of(paths.workspace(), paths.temp(), paths.rootfs(), paths.logs(), paths.metadata())) {
            // The mask stays rwx although the service creates build directories 0700: the group's entry is effective.
            assertThat(acls.read(List.of(directory)).get(directory)).as(directory.toString())
                    .containsExactlyInAnyOrderElementsOf(specified(account));
        }
        TenantIsolation.Status status = storage.tenants().verifyDirectories(ADMIN, tenant);
        assertThat(status.problems()).isEmpty();
        assertThat(status.protection()).isEqualTo(TenantIsolation.Protection.ACL);
        assertThat(status.group()).contains(account);
    }

    @Test
    void anAclChangedBehindTheServicesBackIsReportedUntilTheTenantIsSecuredAgain() throws Exception {
        acls();
        assumeRoot();
        accounts.group(account);
        open(TenantIsolation.Settings.DEFAULTS);
        storage.tenants().put(ADMIN, tenant, Tier.PRO, false);
        Path tree = layout.tenantDirectory(layout.workspaceRoot(), tenant);

        SystemAccounts.run(List.of("setfacl", "-m", "o::rwx", tree.toString()));

        TenantIsolation.Status status = storage.tenants().verifyDirectories(ADMIN, tenant);
        assertThat(status.asSpecified()).isFalse();
        assertThat(status.problems()).singleElement().asString()
                .contains(tree.toString()).contains("missing other::---").contains("unexpected other::rwx");
        assertThat(storage.isolation().mismatches()).containsOnlyKeys(tenant);

        storage.tenants().put(ADMIN, tenant, Tier.PRO, false);

        assertThat(storage.isolation().mismatches()).isEmpty();
        assertThat(storage.tenants().verifyDirectories(ADMIN, tenant).problems()).isEmpty();
    }

    @Test
    void withoutTheTenantsGroupOnlyTheServiceUserIsInTheAclAndTheStatusSaysSo() throws Exception {
        PosixAcls acls = acls();
        open(TenantIsolation.Settings.DEFAULTS);

        storage.tenants().put(ADMIN, tenant, Tier.FREE, false);

        Path tree = layout.tenantDirectory(layout.dataRoot(), tenant);
        assertThat(acls.read(List.of(tree)).get(tree)).contains("user:" + SERVICE_USER + ":rwx", "other::---", "default:other::---")
                .noneMatch(entry -> entry.startsWith("group:") && !entry.equals("group::---"));
        TenantIsolation.Status status = storage.tenants().verifyDirectories(ADMIN, tenant);
        assertThat(status.problems()).isEmpty();
        assertThat(status.group()).isEmpty();
        assertThat(status.notes()).singleElement().asString().contains("groupadd " + account);
    }

    @Test
    void withoutTheAclToolsTheTreesAreCheckedForOwnerAndModeAlone() throws IOException {
        layout.createSkeleton();
        layout.createTenantDirectories(tenant);
        TenantIsolation isolation = new TenantIsolation(layout, TenantIsolation.Settings.DEFAULTS, Optional.empty());

        TenantIsolation.Status fine = isolation.secure(tenant);
        assertThat(fine.problems()).isEmpty();
        assertThat(fine.protection()).isEqualTo(TenantIsolation.Protection.MODE_ONLY);
        assertThat(fine.notes()).singleElement().asString().contains("apt-get install acl");

        Path tree = layout.tenantDirectory(layout.scratchRoot(), tenant);
        Files.setPosixFilePermissions(tree, PosixFilePermissions.fromString("rwxr-xr-x"));

        assertThat(isolation.verify(tenant).problems()).containsExactly(tree + ": mode rwxr-xr-x, not rwx------");
        assertThat(isolation.mismatches()).containsOnlyKeys(tenant);
    }

    @Test
    void aTenantOwnedWorkspaceBelongsToTheTenantsUserAndIsStillCleanedWithoutFollowingLinks() throws Exception {
        acls();
        assumeRoot();
        accounts.userWithGroup(account);
        for (Path root : List.of(layout.workspaceRoot(), layout.scratchRoot())) {
            // The tenant's user passes through the category root to reach its own tree (the docs' chmod 0711).
            Files.createDirectories(root);
            Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwx--x--x"));
        }
        open(new TenantIsolation.Settings("builderd-t-", TenantIsolation.WorkspaceOwner.TENANT));
        storage.tenants().put(ADMIN, tenant, Tier.PRO, false);
        BuildRef ref = new BuildRef(tenant, BuildId.of("b1"));

        Layout.BuildPaths paths = storage.builds().create(ADMIN, tenant, Optional.of(ref.build()), Duration.ofMinutes(5)).paths()
                .orElseThrow();

        int uid = SystemAccounts.id("-u", account);
        int gid = SystemAccounts.id("-g", account);
        for (Path directory : List.of(paths.workspace(), paths.temp())) {
            assertThat(Files.getAttribute(directory, "unix:uid", LinkOption.NOFOLLOW_LINKS)).as(directory.toString()).isEqualTo(uid);
            assertThat(Files.getAttribute(directory, "unix:gid", LinkOption.NOFOLLOW_LINKS)).as(directory.toString()).isEqualTo(gid);
        }
        assertThat(Files.getOwner(paths.rootfs()).getName()).isEqualTo(SERVICE_USER);
        assertThat(Files.getPosixFilePermissions(layout.workspaceRoot().resolve("tenants")))
                .isEqualTo(PosixFilePermissions.fromString("rwx--x--x"));

        Path precious = Files.writeString(outside.resolve("passwd"), "keep me");
        Files.createDirectories(paths.workspace().resolve("src"));
        Files.writeString(paths.workspace().resolve("src/main.c"), "int main;");
        Files.createSymbolicLink(paths.workspace().resolve("src/escape"), precious);
        Files.createSymbolicLink(paths.temp().resolve("escape-dir"), outside);

        storage.builds().complete(ADMIN, ref, BuildStatus.SUCCEEDED);

        assertThat(paths.workspace()).doesNotExist();
        assertThat(paths.temp()).doesNotExist();
        assertThat(precious).hasContent("keep me");
    }

    @Test
    void aTenantWithoutItsSystemUserGetsNoBuildAndIsToldHowToCreateIt() throws Exception {
        acls();
        assumeRoot();
        for (Path root : List.of(layout.workspaceRoot(), layout.scratchRoot())) {
            Files.createDirectories(root);
            Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwx--x--x"));
        }
        open(new TenantIsolation.Settings("builderd-t-", TenantIsolation.WorkspaceOwner.TENANT));
        storage.tenants().put(ADMIN, tenant, Tier.PRO, false);

        assertThatThrownBy(() -> storage.builds().create(ADMIN, tenant, Optional.of(BuildId.of("b1")), Duration.ofMinutes(5)))
                .hasMessageContaining("useradd --system --user-group " + account);
        Layout.BuildPaths paths = layout.buildPaths(new BuildRef(tenant, BuildId.of("b1")));
        assertThat(paths.workspace()).doesNotExist();
        assertThat(paths.temp()).doesNotExist();
        assertThat(storage.builds().list(ADMIN, tenant)).isEmpty();
    }

    @Test
    void tenantOwnedWorkspacesNeedCategoryRootsTheTenantsCanEnter() throws IOException {
        acls();
        assumeRoot();
        Files.createDirectories(layout.workspaceRoot());
        Files.setPosixFilePermissions(layout.workspaceRoot(), PosixFilePermissions.fromString("rwx------"));

        assertThatThrownBy(() -> open(new TenantIsolation.Settings("builderd-t-", TenantIsolation.WorkspaceOwner.TENANT)))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("chmod 0711 " + layout.workspaceRoot());
        metadata.close();
    }
}
