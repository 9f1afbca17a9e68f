package dev.builderd.storage.core;

import dev.builderd.storage.core.metadata.BuildRows;
import dev.builderd.storage.core.metadata.MetadataStore;
import dev.builderd.storage.core.metadata.QuotaRows;
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
 */
final class QuotaScan {

    private static final Logger LOG = LoggerFactory.getLogger(QuotaScan.class);

    private final MetadataStore metadata;
    private final Quotas quotas;
    private final Layout layout;
    private final DirectoryUsage usage;

    QuotaScan(MetadataStore metadata, Quotas quotas, Layout layout, DirectoryUsage usage) {
        this.metadata = metadata;
        this.quotas = quotas;
        this.layout = layout;
        this.usage = usage;
    }

    /** Scans every tenant (a tenant without active builds has nothing scanned: zero). */
    void scanAll() throws IOException {
        Map<TenantId, List<BuildInfo>> active = metadata.read(BuildRows::active).stream()
                .collect(Collectors.groupingBy(build -> build.ref().tenant()));
        for (TenantInfo tenant : metadata.read(TenantRows::all)) {
            scan(tenant.id(), active.getOrDefault(tenant.id(), List.of()));
        }
    }

    private void scan(TenantId tenant, List<BuildInfo> builds) throws IOException {
        if (builds.isEmpty() && metadata.read(h -> QuotaRows.ledger(h, tenant)).entrySet().stream()
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
            for (Category category : List.of(Category.WORKSPACE, Category.SCRATCH, Category.METADATA)) {
                byCategory.putIfAbsent(category, 0L);
            }
            quotas.measured(h, tenant, byCategory);
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
