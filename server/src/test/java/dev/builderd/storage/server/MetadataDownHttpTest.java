package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.builderd.storage.server.DaemonFixture.Response;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** A metadata store that is down: readiness fails (an orchestrator stops sending traffic), liveness does not (no restart loop). */
@ParameterizedClass
@EnumSource(value = MetadataKind.class, names = "POSTGRES")
class MetadataDownHttpTest extends HttpApiTestBase {

    @Test
    void readinessFailsWhileTheMetadataStoreIsDownAndLivenessDoesNot() {
        String url = metadataUrl.orElseThrow();
        String database = url.substring(url.lastIndexOf('/') + 1);
        dev.builderd.storage.testing.PostgresServer.shared().cutOff(database);
        try {
            Response ready = get("/health/ready", null);
            assertThat(ready.status()).isEqualTo(503);
            assertThat(ready.json().get("metadata").asText()).isEqualTo("unreachable");
            assertThat(get("/health/live", null).status()).isEqualTo(200);
        } finally {
            dev.builderd.storage.testing.PostgresServer.shared().reopen(database);
        }
        org.awaitility.Awaitility.await().until(() -> get("/health/ready", null).status() == 200);
    }
}
