package dev.builderd.storage.core.fs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.core.Layout;
import dev.builderd.storage.core.model.TenantId;
import java.nio.file.Path;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class SelinuxCommandsTest {

    static final TenantId ACME = TenantId.of("acme");

    @Test
    void oneRuleAndOneRelabelForTheTenantsTreeUnderTheDataRoot() {
        assertThat(SelinuxCommands.forTenant(Layout.under(Path.of("/var/lib/builderd")), ACME, SelinuxCommands.DEFAULT_TYPE))
                .containsExactly(
                        "semanage fcontext -a -t builderd_tenant_t '/var/lib/builderd/tenants/acme(/.*)?'",
                        "restorecon -R '/var/lib/builderd/tenants/acme'");
    }

    @Test
    void everyCategoryRootMovedToAnotherMountGetsItsOwnRule() {
        Layout layout = new Layout(Path.of("/var/lib/builderd"), Path.of("/mnt/fast-scratch"), Path.of("/mnt/ws"),
                Path.of("/var/lib/builderd"), Path.of("/srv/cache"));

        assertThat(SelinuxCommands.forTenant(layout, ACME, "tenant_acme_t")).containsExactly(
                "semanage fcontext -a -t tenant_acme_t '/var/lib/builderd/tenants/acme(/.*)?'",
                "semanage fcontext -a -t tenant_acme_t '/mnt/fast-scratch/tenants/acme(/.*)?'",
                "semanage fcontext -a -t tenant_acme_t '/mnt/ws/tenants/acme(/.*)?'",
                "semanage fcontext -a -t tenant_acme_t '/srv/cache/tenants/acme(/.*)?'",
                "restorecon -R '/var/lib/builderd/tenants/acme'",
                "restorecon -R '/mnt/fast-scratch/tenants/acme'",
                "restorecon -R '/mnt/ws/tenants/acme'",
                "restorecon -R '/srv/cache/tenants/acme'");
    }

    @Test
    void aRootWithRegexCharactersOrQuotesIsEscapedForTheRuleAndTheShell() {
        String rule = SelinuxCommands.forTenant(Layout.under(Path.of("/data/builderd.v2/it's+here")), ACME, "builderd_tenant_t")
                .getFirst();

        assertThat(rule).isEqualTo("semanage fcontext -a -t builderd_tenant_t '/data/builderd\\.v2/it'\\''s\\+here/tenants/acme(/.*)?'");
        String pattern = "/data/builderd\\.v2/it's\\+here/tenants/acme(/.*)?";
        assertThat(Pattern.matches(pattern, "/data/builderd.v2/it's+here/tenants/acme/builds/b1/workspace")).isTrue();
        assertThat(Pattern.matches(pattern, "/data/builderdXv2/it's+here/tenants/acme")).isFalse();
    }

    @Test
    void aTypeThatIsNotAnSelinuxTypeIsRefused() {
        assertThatThrownBy(() -> SelinuxCommands.forTenant(Layout.under(Path.of("/d")), ACME, "x; rm -rf /"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not an SELinux type name");
    }
}
