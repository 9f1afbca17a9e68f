package dev.builderd.storage.server.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.core.fs.TenantIsolation;
import java.util.Map;
import org.junit.jupiter.api.Test;

class IsolationConfigTest {

    @Test
    void tenantGroupsAreNamedWithThePrefixAndWorkspacesBelongToTheServiceByDefault() {
        assertThat(ConfigParser.parse(Map.of()).isolation()).isEqualTo(TenantIsolation.Settings.DEFAULTS);
        assertThat(ConfigParser.parse(Map.of("UNKEY_BUILDERD_TENANT_ACCOUNT_PREFIX", "t_", "UNKEY_BUILDERD_WORKSPACE_OWNER", "tenant"))
                .isolation()).isEqualTo(new TenantIsolation.Settings("t_", TenantIsolation.WorkspaceOwner.TENANT));
    }

    @Test
    void badValuesAreNamed() {
        assertThatThrownBy(() -> ConfigParser.parse(Map.of("UNKEY_BUILDERD_TENANT_ACCOUNT_PREFIX", "Bad Prefix",
                "UNKEY_BUILDERD_WORKSPACE_OWNER", "root")))
                .hasMessageContaining("UNKEY_BUILDERD_TENANT_ACCOUNT_PREFIX='Bad Prefix' is invalid: the account prefix must be")
                .hasMessageContaining("UNKEY_BUILDERD_WORKSPACE_OWNER='root' is invalid: use service or tenant");
    }
}
