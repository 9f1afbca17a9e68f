package dev.builderd.storage.testing;

import static org.assertj.core.api.Assertions.assertThat;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

class AzuriteServerTest {

    @Test
    void startsOnceAndHandsOutFreshContainers() {
        AzuriteServer server = AzuriteServer.shared();

        AzuriteServer.Container first = server.newContainer();
        AzuriteServer.Container second = AzuriteServer.shared().newContainer();

        assertThat(AzuriteServer.shared()).isSameAs(server);
        assertThat(first.endpoint().toString()).isEqualTo("http://127.0.0.1:" + server.port() + "/devstoreaccount1");
        assertThat(first.name()).isNotEqualTo(second.name()).matches("[a-z0-9-]{3,63}");
        assertThat(first.toString()).doesNotContain(first.accessKey());
    }

    @Test
    void aMissingAzuriteSaysHowToInstallIt() {
        assertThatThrownBy(() -> AzuriteServer.findProgram(Map.of("BUILDERD_AZURITE_DIR", "/nonexistent/azurite", "PATH", "/usr/bin")))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("/nonexistent/azurite/node_modules/.bin/azurite-blob")
                .hasMessageContaining("run bin/test")
                .hasMessageContaining("npm install --prefix /nonexistent/azurite azurite@3.37.0");
        assertThatThrownBy(() -> AzuriteServer.findProgram(Map.of("BUILDERD_AZURITE_BIN", "/nonexistent/azurite-blob")))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("/nonexistent/azurite-blob")
                .hasMessageContaining("BUILDERD_AZURITE_BIN");
    }

    @Test
    void installsIntoTheUserCacheByDefault() {
        assertThat(AzuriteServer.defaultInstallDir(Map.of())).hasToString(System.getProperty("user.home") + "/.cache/builderd/azurite-3.37.0");
        assertThat(AzuriteServer.defaultInstallDir(Map.of("XDG_CACHE_HOME", "/x"))).hasToString("/x/builderd/azurite-3.37.0");
    }
}
