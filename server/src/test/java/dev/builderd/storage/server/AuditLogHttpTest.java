package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The audit log (docs/security-audit.md): admin actions and cross-tenant denials land in its own
 * file as JSON lines naming who, what, when and the outcome, and no token ever does.
 */
@ParameterizedClass
@EnumSource(MetadataKind.class)
class AuditLogHttpTest extends HttpApiTestBase {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void adminActionsAndCrossTenantDenialsAreAuditedWithoutSecrets() {
        Instant before = Instant.now().minusSeconds(1);
        String acmeToken = tenant("acme", "pro");
        JsonNode second = issueToken("acme");
        String intruder = tenant("evil", "pro");
        String intruderTokenId = tokenId(intruder);
        assertThat(put("/v1/tenants/acme", ADMIN, "{\"tier\":\"pro\",\"limits\":{\"total_bytes\":1073741824}}").status()).isEqualTo(200);
        assertThat(delete("/v1/tenants/acme/tokens/" + second.get("token_id").asText(), ADMIN).status()).isEqualTo(204);
        assertThat(post("/v1/admin/master-key/rotate", ADMIN, null).status()).isEqualTo(200);
        assertThat(post("/v1/tenants/acme/retention-policy/run", ADMIN, null).status()).isEqualTo(200);
        assertThat(delete("/v1/tenants/acme", null).status()).isEqualTo(401);
        assertThat(get("/v1/tenants/acme/builds", intruder).status()).isEqualTo(403);
        assertThat(delete("/v1/tenants/acme", intruder).status()).isEqualTo(403);
        assertThat(get("/v1/tenants/acme/builds", acmeToken).status()).as("an allowed read is not audited").isEqualTo(200);
        assertThat(delete("/v1/tenants/evil", ADMIN).status()).isEqualTo(204);

        Path file = dataRoot.resolve("global/audit/audit.log");
        await().atMost(Duration.ofSeconds(30)).until(() -> lines(file).stream()
                .anyMatch(line -> line.get("method").asText().equals("DELETE") && line.get("target_tenant").asText().equals("evil")));
        List<JsonNode> lines = lines(file);

        JsonNode created = only(lines, line -> line.get("route").asText().equals("/v1/tenants/{tenant}")
                && line.get("method").asText().equals("PUT") && line.get("status").asInt() == 201 && line.get("target_tenant").asText().equals("acme"));
        assertThat(created.get("principal").asText()).isEqualTo("admin");
        assertThat(created.get("outcome").asText()).isEqualTo("success");
        assertThat(created.get("remote_address").asText()).isEqualTo("127.0.0.1");
        assertThat(Instant.parse(created.get("time").asText())).isAfter(before);

        only(lines, line -> line.get("route").asText().equals("/v1/tenants/{tenant}") && line.get("method").asText().equals("PUT")
                && line.get("status").asInt() == 200);
        assertThat(lines).filteredOn(line -> line.get("route").asText().equals("/v1/tenants/{tenant}/tokens")
                && line.get("target_tenant").asText().equals("acme")).hasSize(2);
        JsonNode revoked = only(lines, line -> line.get("route").asText().equals("/v1/tenants/{tenant}/tokens/{token}"));
        assertThat(revoked.get("target_token_id").asText()).isEqualTo(second.get("token_id").asText());
        only(lines, line -> line.get("route").asText().equals("/v1/admin/master-key/rotate") && line.get("status").asInt() == 200);

        JsonNode retention = only(lines, line -> line.get("route").asText().equals("/v1/tenants/{tenant}/retention-policy/run"));
        assertThat(retention.get("principal").asText()).isEqualTo("admin");
        assertThat(retention.has("principal_tenant")).isFalse();
        JsonNode anonymous = only(lines, line -> line.get("status").asInt() == 401);
        assertThat(anonymous.get("principal").asText()).isEqualTo("anonymous");
        assertThat(anonymous.get("outcome").asText()).isEqualTo("unauthenticated");
        assertThat(anonymous.get("target_tenant").asText()).isEqualTo("acme");

        JsonNode crossRead = only(lines, line -> line.get("route").asText().equals("/v1/tenants/{tenant}/builds"));
        assertThat(crossRead.get("principal").asText()).isEqualTo("tenant");
        assertThat(crossRead.get("principal_tenant").asText()).isEqualTo("evil");
        assertThat(crossRead.get("token_id").asText()).isEqualTo(intruderTokenId);
        assertThat(crossRead.get("target_tenant").asText()).isEqualTo("acme");
        assertThat(crossRead.get("status").asInt()).isEqualTo(403);
        assertThat(crossRead.get("outcome").asText()).isEqualTo("denied");
        assertThat(crossRead.get("problem").asText()).isEqualTo("forbidden");
        JsonNode crossPurge = only(lines, line -> line.get("method").asText().equals("DELETE") && line.get("status").asInt() == 403);
        assertThat(crossPurge.get("principal_tenant").asText()).isEqualTo("evil");

        String text = read(file);
        assertThat(text).doesNotContain(ADMIN, acmeToken, intruder, second.get("token").asText(), "Bearer", "1073741824");
        assertThat(get("/metrics", ADMIN).text()).contains("builderd_audit_events_total{outcome=\"denied\"} 2.0");
    }

    /** The ID of a tenant token: its part between {@code bdt_} and the secret. */
    private static String tokenId(String token) {
        return token.split("_")[1];
    }

    private static JsonNode only(List<JsonNode> lines, Predicate<JsonNode> which) {
        List<JsonNode> found = lines.stream().filter(which).toList();
        assertThat(found).as("audit lines %s", lines).hasSize(1);
        return found.getFirst();
    }

    private static List<JsonNode> lines(Path file) {
        if (!Files.exists(file)) {
            return List.of();
        }
        return read(file).lines().map(line -> {
            try {
                return JSON.readTree(line);
            } catch (IOException e) {
                throw new UncheckedIOException("not a JSON line: " + line, e);
            }
        }).toList();
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
