package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.builderd.storage.server.DaemonFixture.Response;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/** Cache policies per tenant and cache type over HTTP, and ranged reads of cache entries. */
@ParameterizedClass
@EnumSource(MetadataKind.class)
class CachePoliciesHttpTest extends HttpApiTestBase {

    private static final String POLICIES = "/v1/tenants/acme/cache-policies";

    private JsonNode typeState(String token, String type) {
        for (JsonNode state : get(POLICIES, token).json().get("cache_types")) {
            if (state.get("type").asText().equals(type)) {
                return state;
            }
        }
        throw new AssertionError("no cache type " + type);
    }

    @Test
    void theAdminSetsAPolicyPerCacheTypeAndTheTenantSeesItWithTheTypesSize() {
        String token = tenant("acme", "pro");
        String npm = "/v1/tenants/acme/cache/dependencies/npm/";

        Response set = put(POLICIES + "/dependencies", ADMIN, "{\"max_size_bytes\":5000,\"eviction_policy\":\"fifo\"}");
        assertThat(set.status()).as("%s", set).isEqualTo(200);
        assertThat(set.json().get("set_for_tenant").toString()).isEqualTo("{\"max_size_bytes\":5000,\"eviction_policy\":\"fifo\"}");
        put(npm + "a.tgz", token, bytes(1, 2000));
        put(npm + "b.tgz", token, bytes(2, 2000));
        get(npm + "a.tgz", token);
        put(npm + "c.tgz", token, bytes(3, 2000));

        JsonNode dependencies = typeState(token, "dependencies");
        assertThat(dependencies.get("size_bytes").asLong()).isEqualTo(4000);
        assertThat(dependencies.get("entries").asLong()).isEqualTo(2);
        assertThat(dependencies.get("eviction_policy").asText()).isEqualTo("fifo");
        assertThat(get(npm + "a.tgz", token).status()).as("fifo: the first in went, though read").isEqualTo(404);
        assertThat(typeState(token, "docker-layers").get("max_size_bytes").asLong()).as("other types: no limit of their own").isZero();
        String metrics = get("/metrics", ADMIN).text();
        assertThat(metrics).contains("builderd_cache_size_bytes{cache_type=\"dependencies\",tenant_id=\"acme\"} 4000.0");
        assertThat(metrics).contains("builderd_cache_max_size_bytes{cache_type=\"dependencies\",tenant_id=\"acme\"} 5000.0");
    }

    @Test
    void aPolicyIsSetOnlyByTheAdminWithValuesThatMakeSense() {
        String token = tenant("acme", "pro");

        assertProblem(put(POLICIES + "/dependencies", token, "{\"max_size_bytes\":1}"), 403);
        assertProblem(put(POLICIES + "/dependencies", ADMIN, "{\"eviction_policy\":\"mru\"}"), 400, "'mru'", "lru, fifo or random");
        assertProblem(put(POLICIES + "/dependencies", ADMIN, "{\"min_retention_seconds\":-5}"), 400, "zero or more");
        assertProblem(put(POLICIES + "/apt", ADMIN, "{}"), 400, "docker-layers, dependencies or git-repos");
        assertProblem(put("/v1/tenants/nobody/cache-policies/dependencies", ADMIN, "{}"), 404);
        assertThat(get("/v1/tenants/acme/cache-policies", tenant("globex", "pro")).status()).isEqualTo(403);
    }

    @Test
    void aCacheEntryIsReadInRanges() {
        String token = tenant("acme", "enterprise");
        byte[] bundle = bytes(4, 700_000);
        String path = "/v1/tenants/acme/cache/git-repos/github.com/acme/app.bundle";
        put(path, token, bundle);

        Response middle = get(path, token, "Range", "bytes=300000-300099");
        Response tail = get(path, token, "Range", "bytes=-10");

        assertThat(middle.status()).isEqualTo(206);
        assertThat(middle.header("Content-Range")).hasValue("bytes 300000-300099/700000");
        assertThat(middle.body()).isEqualTo(Arrays.copyOfRange(bundle, 300_000, 300_100));
        assertThat(tail.body()).isEqualTo(Arrays.copyOfRange(bundle, 699_990, 700_000));
        Response past = get(path, token, "Range", "bytes=700000-");
        assertThat(past.status()).isEqualTo(416);
        assertThat(past.header("Content-Range")).hasValue("bytes */700000");
        assertThat(get(path, token).header("Accept-Ranges")).hasValue("bytes");
    }

    @Test
    void theAdminWarmsATenantsEntriesAndReadsTheJobsProgress() {
        String token = tenant("acme", "pro");
        put("/v1/tenants/acme/cache/dependencies/npm/a.tgz", token, bytes(1, 1000));
        put("/v1/tenants/acme/cache/dependencies/npm/b.tgz", token, bytes(2, 1000));

        Response started = post("/v1/tenants/acme/cache-warming", ADMIN,
                "{\"type\":\"dependencies\",\"keys\":[\"npm/a.tgz\",\"npm/b.tgz\",\"npm/absent.tgz\"]}");

        assertThat(started.status()).as("%s", started).isEqualTo(202);
        String job = "/v1/tenants/acme/cache-warming/" + started.json().get("id").asText();
        JsonNode done = await().until(() -> get(job, ADMIN).json(), state -> !state.get("state").asText().equals("running"));
        assertThat(done.get("state").asText()).isEqualTo("finished");
        assertThat(done.get("total").asLong()).isEqualTo(3);
        assertThat(done.get("missing").asLong()).isEqualTo(1);
        assertThat(done.get("fetched").asLong() + done.get("already_local").asLong()).isEqualTo(2);
        assertProblem(post("/v1/tenants/acme/cache-warming", token, "{\"type\":\"dependencies\",\"keys\":[\"npm/a.tgz\"]}"), 403);
        assertProblem(post("/v1/tenants/acme/cache-warming", ADMIN, "{\"type\":\"dependencies\"}"), 400, "from_tenant");
        assertProblem(get("/v1/tenants/acme/cache-warming/nope", ADMIN), 404, "nope");
    }
}
