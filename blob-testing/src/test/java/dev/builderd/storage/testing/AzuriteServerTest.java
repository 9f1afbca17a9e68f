package dev.builderd.storage.testing;

import static org.assertj.core.api.Assertions.assertThat;

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
}
