package dev.builderd.storage.server.crash;

import dev.builderd.storage.testing.PostgresServer;
import dev.builderd.storage.testing.S3ProxyServer;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.api.io.TempDir;

/**
 * Crash safety, proven by kill -9: the {@link CrashHarness} on the filesystem backend and on S3
 * (s3proxy), with SQLite metadata (and, opt-in, PostgreSQL). The seed and the number of kills come from
 * {@code -Dbuilderd.crash.seed=} and {@code -Dbuilderd.crash.kills=} (see docs/crash-safety.md). The
 * runs are independent (their own data roots, daemons, ports and buckets) and run at the same
 * time: each spends most of its time waiting for its daemon's JVM to start.
 */
@Execution(ExecutionMode.CONCURRENT)
class CrashSafetyTest {

    @TempDir
    Path work;

    @Test
    void everyInvariantHoldsAfterEachKillOnTheFilesystemBackend() throws Exception {
        try (BackendView backend = new BackendView.Filesystem(work.resolve("data"))) {
            new CrashHarness("filesystem backend, SQLite", backend, Map.of(), work).run();
        }
    }

    @Test
    void everyInvariantHoldsAfterEachKillOnS3() throws Exception {
        try (BackendView backend = BackendView.S3.freshBucket(S3ProxyServer.shared())) {
            new CrashHarness("S3 backend (s3proxy), SQLite", backend, Map.of(), work).run();
        }
    }

    /** Opt-in ({@code -Dbuilderd.crash.postgres=true}): it would add a whole run's time to CI. */
    @Test
    @EnabledIfSystemProperty(named = "builderd.crash.postgres", matches = "true")
    void everyInvariantHoldsAfterEachKillWithPostgresqlMetadata() throws Exception {
        String url = PostgresServer.shared().newDatabase().url();
        try (BackendView backend = new BackendView.Filesystem(work.resolve("data"))) {
            new CrashHarness("filesystem backend, PostgreSQL", backend, Map.of("UNKEY_BUILDERD_METADATA_URL", url), work).run();
        }
    }
}
