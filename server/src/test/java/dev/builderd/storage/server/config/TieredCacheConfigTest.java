package dev.builderd.storage.server.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.builderd.storage.blob.TieredBlobStore;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The variables of the caches' tiers. */
class TieredCacheConfigTest {

    @Test
    void defaultsAreAMemoryTierADiskTierUnderTheDataRootAndAFiveSecondTimeout() {
        TieredBlobStore.Settings tiers = ConfigParser.parse(Map.of()).cacheTiers();

        assertThat(tiers).isEqualTo(new TieredBlobStore.Settings(ConfigParser.defaultMemoryTierBytes(Runtime.getRuntime().maxMemory()), 1 << 20,
                Optional.of(Path.of("/var/lib/builderd/global/system-temp/cache-tier")), 10L << 30, Duration.ofSeconds(5)));
    }

    @Test
    void theDefaultMemoryTierIsAQuarterOfASmallHeap() {
        assertThat(ConfigParser.defaultMemoryTierBytes(512L << 20)).isEqualTo(128L << 20);
        assertThat(ConfigParser.defaultMemoryTierBytes(1L << 30)).isEqualTo(256L << 20);
        assertThat(ConfigParser.defaultMemoryTierBytes(16L << 30)).isEqualTo(256L << 20);
        assertThat(ConfigParser.defaultMemoryTierBytes((100L << 20) + 12345)).isEqualTo(25L << 20);
    }

    @Test
    void everyVariableIsRead() {
        TieredBlobStore.Settings tiers = ConfigParser.parse(Map.of(
                "UNKEY_BUILDERD_CACHE_MEMORY_TIER_MB", "64",
                "UNKEY_BUILDERD_CACHE_MEMORY_TIER_MAX_ENTRY_KB", "512",
                "UNKEY_BUILDERD_CACHE_DISK_TIER_DIR", "/mnt/nvme/builderd-tier",
                "UNKEY_BUILDERD_CACHE_DISK_TIER_MB", "2048",
                "UNKEY_BUILDERD_CACHE_REMOTE_TIMEOUT_SECONDS", "2")).cacheTiers();

        assertThat(tiers).isEqualTo(new TieredBlobStore.Settings(64L << 20, 512 << 10, Optional.of(Path.of("/mnt/nvme/builderd-tier")),
                2048L << 20, Duration.ofSeconds(2)));
    }

    @Test
    void zeroTurnsATierOff() {
        TieredBlobStore.Settings tiers = ConfigParser.parse(Map.of("UNKEY_BUILDERD_CACHE_MEMORY_TIER_MB", "0",
                "UNKEY_BUILDERD_CACHE_DISK_TIER_MB", "0")).cacheTiers();

        assertThat(tiers.memoryBytes()).isZero();
        assertThat(tiers.diskDirectory()).isEmpty();
        assertThat(tiers.hasTiers()).isFalse();
    }

    @Test
    void badValuesAreReportedNamingTheirVariable() {
        assertThatThrownBy(() -> ConfigParser.parse(Map.of(
                "UNKEY_BUILDERD_CACHE_MEMORY_TIER_MB", "-1",
                "UNKEY_BUILDERD_CACHE_DISK_TIER_MB", "lots",
                "UNKEY_BUILDERD_CACHE_REMOTE_TIMEOUT_SECONDS", "0")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("UNKEY_BUILDERD_CACHE_MEMORY_TIER_MB='-1' is invalid")
                .hasMessageContaining("UNKEY_BUILDERD_CACHE_DISK_TIER_MB='lots' is invalid")
                .hasMessageContaining("UNKEY_BUILDERD_CACHE_REMOTE_TIMEOUT_SECONDS='0' is invalid");
        assertThatThrownBy(() -> ConfigParser.parse(Map.of("UNKEY_BUILDERD_CACHE_MEMORY_TIER_MB", "1",
                "UNKEY_BUILDERD_CACHE_MEMORY_TIER_MAX_ENTRY_KB", "2048")))
                .hasMessageContaining("UNKEY_BUILDERD_CACHE_MEMORY_TIER_MAX_ENTRY_KB (2048) must not exceed UNKEY_BUILDERD_CACHE_MEMORY_TIER_MB (1 MiB)");
    }

    @Test
    void theDiskTierMustStayOutOfTheTenantTrees() {
        assertThatThrownBy(() -> ConfigParser.parse(Map.of("UNKEY_BUILDERD_DATA_DIR", "/srv/b",
                "UNKEY_BUILDERD_CACHE_DIR", "/cache", "UNKEY_BUILDERD_CACHE_DISK_TIER_DIR", "/cache/tenants/tier")))
                .hasMessageContaining("UNKEY_BUILDERD_CACHE_DISK_TIER_DIR='/cache/tenants/tier' is inside the tenant tree /cache/tenants");
    }
}
