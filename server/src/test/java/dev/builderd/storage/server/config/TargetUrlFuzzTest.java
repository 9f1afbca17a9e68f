package dev.builderd.storage.server.config;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Fuzzes the target URLs of the replica and of backups ({@code UNKEY_BUILDERD_REPLICA_TARGET},
 * {@code UNKEY_BUILDERD_BACKUP_TARGET}): whatever the URL, start-up either gets a configuration
 * or fails with one {@link ConfigException} that names the variable, and never shows the
 * secrets given beside it.
 */
final class TargetUrlFuzzTest {

    private static final String SECRET = "fuzz-secret-never-shown-0123456789";
    private static final List<String> SCHEMES = List.of("file://", "s3://", "azure://", "");

    @FuzzTest(maxDuration = "2m")
    void targetUrlIsParsedOrRefusedNamingItsVariable(FuzzedDataProvider data) {
        String variable = data.pickValue(List.of("REPLICA", "BACKUP"));
        String url = data.pickValue(SCHEMES) + data.consumeRemainingAsString();
        Map<String, String> env = new HashMap<>();
        env.put("UNKEY_BUILDERD_DATA_DIR", "/tmp/builderd-config-fuzz");
        env.put("UNKEY_BUILDERD_" + variable + "_TARGET", url);
        env.put("UNKEY_BUILDERD_" + variable + "_S3_ACCESS_KEY_ID", "fuzz-access-key");
        env.put("UNKEY_BUILDERD_" + variable + "_S3_SECRET_ACCESS_KEY", SECRET);
        env.put("UNKEY_BUILDERD_" + variable + "_AZURE_ACCESS_KEY", SECRET);
        try {
            ConfigParser.parse(env);
        } catch (ConfigException refused) {
            assertThat(refused.getMessage()).contains("UNKEY_BUILDERD_" + variable + "_TARGET").doesNotContain(SECRET);
        }
    }
}
