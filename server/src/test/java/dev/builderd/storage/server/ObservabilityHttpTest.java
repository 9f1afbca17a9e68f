package dev.builderd.storage.server;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.builderd.storage.server.DaemonFixture.Response;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedClass;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * What an operator watches: the spec's metric names and labels after real traffic, OpenMetrics on
 * request, bounded labels, and every metric the alert rules and the Grafana dashboard in
 * {@code deploy/} name is one the daemon really exports.
 */
@ParameterizedClass
@EnumSource(value = MetadataKind.class, names = "SQLITE")
class ObservabilityHttpTest extends HttpApiTestBase {

    private static final Path DEPLOY = Path.of(System.getProperty("user.dir")).getParent().resolve("deploy");
    private static final Pattern METRIC = Pattern.compile("\\b((?:builderd|jvm)_[a-z0-9_]+)");

    @org.junit.jupiter.api.io.TempDir
    Path replicaRoot;
    @org.junit.jupiter.api.io.TempDir
    Path backupRoot;

    /** With a replica and a backup target, so that the replication and backup metrics the alert rules name are exported too. */
    @Override
    java.util.Map<String, String> backendEnvironment() {
        return java.util.Map.of("UNKEY_BUILDERD_REPLICA_TARGET", replicaRoot.toUri().toString(),
                "UNKEY_BUILDERD_BACKUP_TARGET", backupRoot.toUri().toString(), "UNKEY_BUILDERD_BACKUP_SCHEDULE", "off");
    }

    /** A tenant with a running build, an artifact, a cache hit and miss, a policy and a 404: every kind of series. */
    private String traffic() {
        String token = tenant("acme", "pro");
        assertThat(post("/v1/tenants/acme/builds", token, "{\"build_id\":\"b-observed\"}").status()).isEqualTo(201);
        assertThat(upload("acme", token, "b-observed", "secret-name.img", bytes(1, 5000)).status()).isEqualTo(201);
        put("/v1/tenants/acme/cache/dependencies/npm/a.tgz", token, bytes(2, 3000));
        get("/v1/tenants/acme/cache/dependencies/npm/a.tgz", token);
        get("/v1/tenants/acme/cache/dependencies/npm/absent.tgz", token);
        put("/v1/tenants/acme/cache-policies/dependencies", ADMIN, "{\"max_size_bytes\":1000000}");
        get("/v1/tenants/acme/builds/nope", token);
        return token;
    }

    @Test
    void theSpecsMetricsAreExportedWithTheirLabelsAndNothingIsLabelledPerBuildOrKey() {
        traffic();

        String metrics = get("/metrics", ADMIN).text();

        assertThat(metrics)
                .contains("builderd_storage_usage_bytes{storage_type=\"artifacts\",tenant_id=\"acme\"} 5000.0")
                .contains("builderd_storage_operations_total{backend=\"filesystem\",operation=\"put\",tenant_id=\"acme\"}")
                .containsPattern("builderd_storage_operation_duration_seconds_bucket\\{operation=\"put\",tenant_id=\"acme\",le=\"[0-9.+Inf]+\"}")
                .contains("builderd_storage_quota_usage_ratio{tenant_id=\"acme\"}")
                .contains("builderd_cache_hit_ratio{cache_type=\"dependencies\",tenant_id=\"acme\"} 0.5")
                .containsPattern("builderd_storage_free_bytes\\{path=\"[^\"]+\"} [0-9.E]+")
                .containsPattern("builderd_storage_total_bytes\\{path=\"[^\"]+\"} [0-9.E]+")
                .contains("builderd_builds_active{tenant_id=\"acme\"} 1.0")
                .contains("builderd_http_requests_total{method=\"PUT\",route=\"/v1/tenants/{tenant}/builds/{build}/artifacts/{name}\",status=\"201\"} 1.0")
                .contains("builderd_http_problems_total{status=\"404\",type=\"not-found\"}")
                .containsPattern("builderd_http_bytes_total\\{direction=\"in\",tenant_id=\"acme\"} [0-9.E]+")
                .contains("jvm_memory_used_bytes{area=\"heap\"}");
        assertThat(metrics).as("no label per build, artifact or key").doesNotContain("b-observed", "secret-name", "a.tgz", "nope");
    }

    @Test
    void openMetricsIsServedToScrapersThatAskForIt() {
        traffic();

        Response open = get("/metrics", ADMIN, "Accept", "application/openmetrics-text; version=1.0.0; charset=utf-8");
        Response text = get("/metrics", ADMIN);

        assertThat(open.header("Content-Type")).hasValueSatisfying(type -> assertThat(type).startsWith("application/openmetrics-text"));
        assertThat(open.text()).endsWith("# EOF\n").contains("# TYPE builderd_storage_operations counter");
        assertThat(text.header("Content-Type")).hasValueSatisfying(type -> assertThat(type).startsWith("text/plain"));
        assertThat(get("/metrics", tenant("globex", "pro")).status()).as("metrics name every tenant: admin only").isEqualTo(403);
    }

    @Test
    void everyMetricTheAlertRulesAndTheDashboardNameIsOneTheDaemonExports() throws IOException {
        traffic();
        Set<String> exported = daemon.metricNames();

        // The group's name is no metric.
        Set<String> inRules = metricsNamedIn(Files.readString(DEPLOY.resolve("prometheus/builderd-storage.rules.yml"))
                .replaceAll("(?m)^\\s*- name: .*$", ""));
        JsonNode dashboard = new ObjectMapper().readTree(DEPLOY.resolve("grafana/builderd-storage.json").toFile());
        List<String> queries = new ArrayList<>();
        dashboard.findValues("expr").forEach(expr -> queries.add(expr.asText()));
        dashboard.findValues("definition").forEach(definition -> queries.add(definition.asText()));
        Set<String> inDashboard = metricsNamedIn(String.join("\n", queries));

        assertThat(inRules).contains("builderd_storage_free_bytes", "builderd_storage_total_bytes", "builderd_storage_quota_usage_ratio");
        assertThat(exported).as("named by the alert rules").containsAll(inRules);
        assertThat(queries).as("every panel has a query").hasSizeGreaterThan(15);
        assertThat(exported).as("named by the dashboard").containsAll(inDashboard);
    }

    private static Set<String> metricsNamedIn(String text) {
        Set<String> names = new TreeSet<>();
        Matcher m = METRIC.matcher(text);
        while (m.find()) {
            names.add(m.group(1));
        }
        return names;
    }
}
