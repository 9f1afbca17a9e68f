package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.builderd.storage.server.DaemonFixture.Response;
import java.nio.file.Files;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** Tenants and tokens, administered over HTTP. */
@ParameterizedClass
@EnumSource(MetadataKind.class)
class TenantsHttpTest extends HttpApiTestBase {

    @Test
    void adminCreatesThenUpdatesTierAndReadsLimits() {
        Response created = put("/v1/tenants/acme", ADMIN, "{\"tier\":\"free\"}");
        assertThat(created.status()).as("%s", created).isEqualTo(201);
        assertThat(created.json().get("tier").asText()).isEqualTo("free");
        assertThat(created.json().get("limits").get("concurrent_builds").asInt()).isEqualTo(1);

        Response updated = put("/v1/tenants/acme", ADMIN, "{\"tier\":\"pro\"}");
        assertThat(updated.status()).as("%s", updated).isEqualTo(200);

        JsonNode read = get("/v1/tenants/acme", ADMIN).json();
        assertThat(read.get("tenant_id").asText()).isEqualTo("acme");
        assertThat(read.get("tier").asText()).isEqualTo("pro");
        JsonNode limits = read.get("limits");
        assertThat(limits.get("total_bytes").asLong()).isEqualTo(10L << 30);
        assertThat(limits.get("artifact_bytes").asLong()).isEqualTo(5L << 30);
        assertThat(limits.get("cache_bytes").asLong()).isEqualTo(5L << 30);
        assertThat(limits.get("concurrent_builds").asInt()).isEqualTo(3);
        assertThat(limits.get("retention_days").asInt()).isEqualTo(30);
    }

    @Test
    void enterpriseIsAlwaysEncrypted() {
        Response created = put("/v1/tenants/big", ADMIN, "{\"tier\":\"enterprise\",\"encryption\":false}");
        assertThat(created.status()).as("%s", created).isEqualTo(201);
        assertThat(created.json().get("encryption").asBoolean()).isTrue();
        assertThat(get("/v1/tenants/big", ADMIN).json().get("encryption").asBoolean()).isTrue();

        Response free = put("/v1/tenants/small", ADMIN, "{\"tier\":\"free\"}");
        assertThat(free.json().get("encryption").asBoolean()).isFalse();
    }

    @Test
    void unknownTierIsRejectedNamingTheAcceptedOnes() {
        assertProblem(put("/v1/tenants/acme", ADMIN, "{\"tier\":\"gold\"}"), 400,
                "gold", "free", "pro", "enterprise", "dedicated");
        assertThat(get("/v1/tenants/acme", ADMIN).status()).isEqualTo(404);
        assertThat(dataRoot.resolve("tenants/acme")).doesNotExist();
    }

    @Test
    void tenantTokenCannotAdministerTenantsOrIssueTokens() {
        String token = tenant("acme", "free");
        assertProblem(put("/v1/tenants/acme", token, "{\"tier\":\"dedicated\"}"), 403);
        assertProblem(put("/v1/tenants/other", token, "{\"tier\":\"free\"}"), 403);
        assertProblem(post("/v1/tenants/acme/tokens", token, null), 403);
        assertProblem(get("/v1/tenants", token), 403);
        assertProblem(delete("/v1/tenants/acme", token), 403);
        String tokenId = issueToken("acme").get("token_id").asText();
        assertProblem(delete("/v1/tenants/acme/tokens/" + tokenId, token), 403);
        assertThat(dataRoot.resolve("tenants/acme")).isDirectory();
        assertThat(get("/v1/tenants/acme", ADMIN).json().get("tier").asText()).isEqualTo("free");
        assertThat(get("/v1/tenants/other", ADMIN).status()).isEqualTo(404);
        assertThat(get("/v1/tenants/acme", token).status()).isEqualTo(200);
    }

    @Test
    void deletePurgesDirectoriesRowsAndTokens() {
        String token = tenant("acme", "pro");
        JsonNode build = build("acme", token, "b1");
        assertThat(upload("acme", token, "b1", "a.bin", utf8("hello")).status()).isEqualTo(201);
        assertThat(path(build, "rootfs").resolve("a.bin")).exists();

        assertThat(delete("/v1/tenants/acme", ADMIN).status()).isEqualTo(204);

        assertThat(dataRoot.resolve("tenants/acme")).doesNotExist();
        assertThat(get("/v1/tenants/acme", ADMIN).status()).isEqualTo(404);
        assertProblem(get("/v1/tenants/acme", token), 401);
        assertThat(get("/v1/tenants", ADMIN).json().get("tenants").findValuesAsText("tenant_id")).doesNotContain("acme");
        assertThat(delete("/v1/tenants/acme", ADMIN).status()).isEqualTo(404);

        String again = tenant("acme", "pro");
        assertThat(get(buildPath("acme", "b1"), again).status()).as("the old build is gone").isEqualTo(404);
        assertProblem(get("/v1/tenants/acme", token), 401);
    }

    @Test
    void revokedTokenStopsWorking() {
        tenant("acme", "pro");
        JsonNode issued = issueToken("acme");
        String token = issued.get("token").asText();
        String other = token("acme");
        assertThat(get("/v1/tenants/acme", token).status()).isEqualTo(200);

        assertThat(delete("/v1/tenants/acme/tokens/" + issued.get("token_id").asText(), ADMIN).status()).isEqualTo(204);

        assertProblem(get("/v1/tenants/acme", token), 401);
        assertThat(get("/v1/tenants/acme", other).status()).as("the other token lives").isEqualTo(200);
        assertThat(delete("/v1/tenants/acme/tokens/" + issued.get("token_id").asText(), ADMIN).status()).isEqualTo(404);
        assertThat(Files.exists(dataRoot.resolve("tenants/acme"))).isTrue();
    }

    @Test
    void adminListsTenants() {
        tenant("acme", "pro");
        tenant("beta", "free");
        assertThat(get("/v1/tenants", ADMIN).json().get("tenants").findValuesAsText("tenant_id"))
                .containsExactlyInAnyOrder("acme", "beta");
    }
}
