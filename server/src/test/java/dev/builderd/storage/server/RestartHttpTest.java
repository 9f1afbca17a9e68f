package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** Everything the API stored survives a restart on the same data root and metadata store. */
@ParameterizedClass
@EnumSource(MetadataKind.class)
class RestartHttpTest extends HttpApiTestBase {

    @Test
    void tenantsTokensBuildsAndArtifactsSurvive() {
        String token = tenant("acme", "enterprise");
        JsonNode revoked = issueToken("acme");
        build("acme", token, "b1");
        byte[] content = bytes(9, 70_000);
        assertThat(upload("acme", token, "b1", "out.bin", content).status()).isEqualTo(201);
        assertThat(put(buildPath("acme", "b1") + "/logs/build.log", token, "log\n").status()).isEqualTo(201);
        assertThat(complete("acme", token, "b1", "succeeded").status()).isEqualTo(200);
        assertThat(delete("/v1/tenants/acme/tokens/" + revoked.get("token_id").asText(), ADMIN).status()).isEqualTo(204);
        int firstPort = daemon.port();

        daemon.restart();

        assertThat(daemon.port()).isPositive();
        assertThat(firstPort).isPositive();
        JsonNode tenant = get("/v1/tenants/acme", token).json();
        assertThat(tenant.get("tier").asText()).isEqualTo("enterprise");
        assertThat(tenant.get("encryption").asBoolean()).isTrue();
        assertProblem(get("/v1/tenants/acme", revoked.get("token").asText()), 401);
        assertThat(get(buildPath("acme", "b1"), token).json().get("status").asText()).isEqualTo("succeeded");
        assertThat(get(artifactPath("acme", "b1", "out.bin"), token).body()).isEqualTo(content);
        assertThat(manifestNames("acme", token, "b1")).containsExactly("out.bin");
        assertThat(get(buildPath("acme", "b1") + "/logs/build.log", token).text()).isEqualTo("log\n");
        build("acme", token, "b2");
    }
}
