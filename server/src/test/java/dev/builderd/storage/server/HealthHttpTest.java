package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.builderd.storage.server.DaemonFixture.Response;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** The health endpoints, from real disk figures and real metadata. */
@ParameterizedClass
@EnumSource(MetadataKind.class)
class HealthHttpTest extends HttpApiTestBase {

    @Test
    void storageHealthReportsTheDataRootsRealSpaceAndEachTenantsUsageToTheAdmin() {
        String token = tenant("acme", "pro");
        build("acme", token, "b1");
        assertThat(upload("acme", token, "b1", "a.bin", bytes(1, 3000)).status()).isEqualTo(201);

        Response anonymous = get("/health/storage", null);
        assertThat(anonymous.status()).as("%s", anonymous).isEqualTo(200);
        JsonNode filesystem = anonymous.json().get("backends").get("filesystem");
        assertThat(anonymous.json().get("status").asText()).isIn("healthy", "degraded");
        assertThat(filesystem.get("total_space_bytes").asLong()).isPositive();
        assertThat(filesystem.get("free_space_bytes").asLong()).isPositive()
                .isLessThanOrEqualTo(filesystem.get("total_space_bytes").asLong());
        assertThat(anonymous.json().has("tenants")).as("tenant names are not shown without the admin token").isFalse();

        JsonNode tenants = get("/health/storage", ADMIN).json().get("tenants");
        assertThat(tenants.get("acme").get("usage_bytes").asLong()).isEqualTo(3000);
        assertThat(tenants.get("acme").get("quota_bytes").asLong()).isEqualTo(10L << 30);
        assertThat(get("/health/storage", token).json().has("tenants")).isFalse();
        assertThat(get("/health/storage", "bdt_not_a_token").status()).isEqualTo(401);
    }

    @Test
    void livenessAndReadiness() {
        assertThat(get("/health/live", null).status()).isEqualTo(200);
        Response ready = get("/health/ready", null);
        assertThat(ready.status()).isEqualTo(200);
        assertThat(ready.json().get("metadata").asText()).isEqualTo("reachable");
    }
}
