package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.builderd.storage.server.DaemonFixture.Response;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.net.http.HttpRequest.BodyPublishers;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Per-tenant fairness limits (docs/security-fairness.md): one tenant over its limits gets 429 with
 * {@code Retry-After} while another tenant's requests at the same time all succeed; a body over the
 * bandwidth limit is paced, not refused or cut. No timing is asserted: the limits are set so low
 * that the outcome does not depend on how fast this machine is, and pacing is shown by the
 * limiter's own accounting.
 */
@ParameterizedClass
@EnumSource(MetadataKind.class)
class FairnessHttpTest extends HttpApiTestBase {

    @Test
    void aFloodFromOneTenantIsRefusedWith429WhileAnotherTenantsRequestsAllSucceed() throws Exception {
        String flooder = tenant("flooder", "pro");
        String quiet = tenant("quiet", "pro");
        // One request per second, bursts of two: thirty requests sent at once cannot all fit, on any machine.
        limits("flooder", "{\"requests_per_second\":1}");

        List<Future<Response>> flood = new ArrayList<>();
        List<Future<Response>> others = new ArrayList<>();
        try (ExecutorService clients = Executors.newFixedThreadPool(6)) {
            for (int i = 0; i < 30; i++) {
                flood.add(clients.submit(() -> get("/v1/tenants/flooder/builds", flooder)));
                if (i % 3 == 0) {
                    others.add(clients.submit(() -> get("/v1/tenants/quiet/builds", quiet)));
                    others.add(clients.submit(() -> get("/v1/tenants/flooder/builds", ADMIN)));
                }
            }
        }

        List<Response> refused = new ArrayList<>();
        for (Future<Response> response : flood) {
            assertThat(response.get().status()).as("%s", response.get()).isIn(200, 429);
            if (response.get().status() == 429) {
                refused.add(response.get());
            }
        }
        assertThat(refused).isNotEmpty();
        for (Response response : refused) {
            assertProblem(response, 429, "requests per second");
            assertThat(response.json().get("type").asText()).endsWith("/rate-limited");
            assertThat(response.json().get("reason").asText()).isEqualTo("request_rate");
            assertThat(Long.parseLong(response.header("Retry-After").orElseThrow())).isBetween(1L, 2L);
        }
        for (Future<Response> response : others) {
            assertThat(response.get().status()).as("the quiet tenant's and the admin's requests: %s", response.get()).isEqualTo(200);
        }
        assertThat(metric("builderd_rate_limited_requests_total", "tenant_id=\"flooder\"", "reason=\"request_rate\""))
                .isEqualTo(refused.size());
        assertThat(metric("builderd_rate_limited_requests_total", "tenant_id=\"quiet\"")).isZero();
    }

    @Test
    void requestsInFlightPastTheLimitAreRefusedAndTheSlotIsFreedWhenTheRequestEnds() throws Exception {
        String busy = tenant("busy", "pro");
        String quiet = tenant("quiet", "pro");
        limits("busy", "{\"concurrent_requests\":1}");
        build("busy", busy, "b1");

        PipedOutputStream upload = new PipedOutputStream();
        byte[] content = bytes(7, 128 * 1024);
        PipedInputStream body = new PipedInputStream(upload, content.length);
        CompletableFuture<Response> slow = CompletableFuture.supplyAsync(() -> put(artifactPath("busy", "b1", "slow.bin"), busy,
                BodyPublishers.fromPublisher(BodyPublishers.ofInputStream(() -> body), content.length)));
        // More than the client's buffer, so that it sends the headers and a first part.
        int first = 48 * 1024;
        upload.write(content, 0, first);
        upload.flush();

        // The slow upload holds the tenant's only slot once the daemon has its headers.
        await().atMost(Duration.ofSeconds(30)).until(() -> {
            assertThat(slow).as("the slow upload ended early: %s", slow.getNow(null)).isNotDone();
            return get("/v1/tenants/busy/builds", busy).status() == 429;
        });
        Response refused = get("/v1/tenants/busy/builds", busy);
        assertProblem(refused, 429, "requests in flight");
        assertThat(refused.json().get("reason").asText()).isEqualTo("concurrency");
        assertThat(refused.header("Retry-After")).hasValue("1");
        assertThat(get("/v1/tenants/quiet/builds", quiet).status()).isEqualTo(200);
        assertThat(get("/v1/tenants/busy/builds", ADMIN).status()).isEqualTo(200);

        upload.write(content, first, content.length - first);
        upload.close();
        assertThat(slow.get().status()).as("%s", slow.get()).isEqualTo(201);
        await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(get("/v1/tenants/busy/builds", busy).status()).isEqualTo(200));
        assertThat(metric("builderd_rate_limited_requests_total", "tenant_id=\"busy\"", "reason=\"concurrency\"")).isPositive();
    }

    @Test
    void bodiesOverTheBandwidthLimitArePacedNotRefused() {
        String tenant = tenant("bulk", "pro");
        // 96 KiB/s with a bucket of one second: a 256 KiB body must wait for most of its bytes.
        limits("bulk", "{\"bytes_per_second\":98304}");
        build("bulk", tenant, "b1");
        byte[] content = bytes(11, 256 * 1024);

        Response uploaded = upload("bulk", tenant, "b1", "big.bin", content);
        assertThat(uploaded.status()).as("%s", uploaded).isEqualTo(201);
        assertThat(uploaded.json().get("size").asLong()).isEqualTo(content.length);
        assertThat(uploaded.json().get("sha256").asText()).isEqualTo(sha256(content));
        assertThat(metric("builderd_rate_limit_paced_seconds_total", "tenant_id=\"bulk\"", "direction=\"in\"")).isPositive();

        Response downloaded = get(artifactPath("bulk", "b1", "big.bin"), tenant);
        assertThat(downloaded.status()).isEqualTo(200);
        assertThat(downloaded.body()).isEqualTo(content);
        assertThat(metric("builderd_rate_limit_paced_seconds_total", "tenant_id=\"bulk\"", "direction=\"out\"")).isPositive();
        assertThat(metric("builderd_rate_limited_requests_total", "tenant_id=\"bulk\"")).isZero();
    }

    @Test
    void theTenantShowsItsLimitsAndOverridesAreValidated() {
        tenant("shown", "enterprise");
        Response tenant = get("/v1/tenants/shown", ADMIN);
        assertThat(tenant.json().at("/rate_limits/requests_per_second").asLong()).isEqualTo(1000);
        assertThat(tenant.json().at("/rate_limits/bytes_per_second").asLong()).isEqualTo(400L << 20);
        assertThat(tenant.json().at("/rate_limits/concurrent_requests").asInt()).isEqualTo(64);

        limits("shown", "{\"requests_per_second\":7}");
        assertThat(get("/v1/tenants/shown", ADMIN).json().at("/rate_limits/requests_per_second").asLong()).isEqualTo(7);
        assertProblem(put("/v1/tenants/shown", ADMIN, "{\"tier\":\"enterprise\",\"limits\":{\"concurrent_requests\":0}}"), 400,
                "concurrent_requests");
    }

    /** Overrides the tenant's limits (a pro tenant; the other fields keep the tier's). */
    private void limits(String tenant, String limits) {
        Response response = put("/v1/tenants/" + tenant, ADMIN, "{\"tier\":\"" + get("/v1/tenants/" + tenant, ADMIN).json().get("tier").asText()
                + "\",\"limits\":" + limits + "}");
        assertThat(response.status()).as("%s", response).isEqualTo(200);
    }

    /** The sum of the samples of {@code name} whose labels include all of {@code labels}. */
    private double metric(String name, String... labels) {
        String text = get("/metrics", ADMIN).text();
        double sum = 0;
        Matcher sample = Pattern.compile("^" + Pattern.quote(name) + "\\{([^}]*)\\} (\\S+)$", Pattern.MULTILINE).matcher(text);
        while (sample.find()) {
            String found = sample.group(1);
            if (List.of(labels).stream().allMatch(found::contains)) {
                sum += Double.parseDouble(sample.group(2));
            }
        }
        return sum;
    }
}
