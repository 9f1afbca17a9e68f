package dev.builderd.storage.core;

import dev.builderd.storage.core.metadata.BuildRows;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.QuotaRows;
import dev.builderd.storage.core.metadata.ScannedUsageRows;
import dev.builderd.storage.core.metadata.TenantRows;
import dev.builderd.storage.core.model.BuildInfo;
import dev.builderd.storage.core.model.TenantId;
import dev.builderd.storage.core.model.TenantInfo;
import dev.builderd.storage.core.quota.Category;
import dev.builderd.storage.core.quota.DirectoryUsage;
import dev.builderd.storage.core.quota.Quotas;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Measures what build processes write directly: the {@code workspace/}, {@code temp/} and
 * {@code metadata/} directories of every active build (completed builds' workspace and temp are
 * gone, and they take no new bytes), with {@link DirectoryUsage} (allocated blocks, hard links
 * once, no links followed), and sets the tenant's scanned ledger lines to what it found. While a
 * tenant is past a hard limit, each of its active builds that holds bytes in those directories is
 * flagged over quota, so its worker learns it from the build's status and heartbeat and can stop.
 *
 * <p>A build's directories exist on its host node only: each node measures the active builds it
 * hosts, records that per node ({@code scanned_usage}), and sets the tenant's scanned lines to
 * the sum over nodes, so that nodes sharing PostgreSQL do not overwrite each other's findings.
 */
final class QuotaScan {

    private static final Logger LOG = LoggerFactory.getLogger(QuotaScan.class);

    private final MetadataStore metadata;
    private final Quotas quotas;
    private final Layout layout;
    private final DirectoryUsage usage;
    private final String node;

    QuotaScan(MetadataStore metadata, Quotas quotas, Layout layout, DirectoryUsage usage, String node) {
        this.node = node;
        this.metadata = metadata;
        this.quotas = quotas;
        this.layout = layout;
        this.usage = usage;
    }

    /** Scans every tenant's builds hosted here (a tenant without active builds here has nothing scanned here: zero). */
    void scanAll() throws IOException {
        Map<TenantId, List<BuildInfo>> active = metadata.read(BuildRows::active).stream()
                .filter(build -> build.isHostedOn(node))
                .collect(Collectors.groupingBy(build -> build.ref().tenant()));
        for (TenantInfo tenant : metadata.read(TenantRows::all)) {
            scan(tenant.id(), active.getOrDefault(tenant.id(), List.of()));
        }
    }

    private void scan(TenantId tenant, List<BuildInfo> builds) throws IOException {
        if (builds.isEmpty() && metadata.read(h -> ScannedUsageRows.of(h, tenant, node)).values().stream().allMatch(b -> b == 0)
                && metadata.read(h -> QuotaRows.ledger(h, tenant)).entrySet().stream()
                        .noneMatch(line -> line.getKey().scanned() && line.getValue().used() != 0)) {
            return;
        }
        List<Path> roots = new ArrayList<>();
        for (BuildInfo build : builds) {
            Layout.BuildPaths paths = layout.buildPaths(build.ref());
            roots.addAll(List.of(paths.workspace(), paths.temp(), paths.metadata()));
        }
        DirectoryUsage.Result result = usage.measure(roots);
        Map<Category, Long> byCategory = new EnumMap<>(Category.class);
        Map<BuildInfo, Long> byBuild = new java.util.HashMap<>();
        for (BuildInfo build : builds) {
            Layout.BuildPaths paths = layout.buildPaths(build.ref());
            long workspace = result.allocatedByRoot().getOrDefault(paths.workspace(), 0L);
            long scratch = result.allocatedByRoot().getOrDefault(paths.temp(), 0L);
            long meta = result.allocatedByRoot().getOrDefault(paths.metadata(), 0L);
            byCategory.merge(Category.WORKSPACE, workspace, Long::sum);
            byCategory.merge(Category.SCRATCH, scratch, Long::sum);
            byCategory.merge(Category.METADATA, meta, Long::sum);
            byBuild.put(build, workspace + scratch + meta);
        }
        metadata.inTransaction(h -> {
            // Under the tenant's lock, like every ledger change: nodes scanning at once sum each other's committed rows.
            metadata.lockTenant(h, tenant);
            for (Category category : List.of(Category.WORKSPACE, Category.SCRATCH, Category.METADATA)) {
                byCategory.putIfAbsent(category, 0L);
            }
            ScannedUsageRows.put(h, tenant, node, byCategory);
            ScannedUsageRows.forgetIdleNodes(h, tenant, node);
            Map<Category, Long> total = ScannedUsageRows.total(h, tenant);
            Map<Category, Long> cluster = new EnumMap<>(Category.class);
            for (Category category : List.of(Category.WORKSPACE, Category.SCRATCH, Category.METADATA)) {
                cluster.put(category, total.getOrDefault(category, 0L));
            }
            quotas.measured(h, tenant, cluster);
            boolean hard = QuotaRows.state(h, tenant).equals("hard");
            byBuild.forEach((build, bytes) -> {
                if (BuildRows.setOverQuota(h, build.ref(), hard && bytes > 0) && hard) {
                    LOG.warn("event=build_over_quota build={} scanned_bytes={}: the tenant is past a hard limit", build.ref(), bytes);
                }
            });
            return null;
        });
    }
}
