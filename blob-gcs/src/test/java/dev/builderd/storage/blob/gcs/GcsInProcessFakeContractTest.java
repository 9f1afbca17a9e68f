package dev.builderd.storage.blob.gcs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.cloud.storage.contrib.nio.testing.LocalStorageHelper;
import dev.builderd.storage.blob.BlobKey;
import dev.builderd.storage.blob.BlobStore;
import dev.builderd.storage.blob.ParallelIo;
import dev.builderd.storage.blob.RemoteTimeouts;
import dev.builderd.storage.testing.BlobStoreContract;
import dev.builderd.storage.testing.EncryptedContract;
import java.lang.reflect.Method;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.InvocationInterceptor;
import org.junit.jupiter.api.extension.ReflectiveInvocationContext;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link GcsBlobStore} against the whole {@link BlobStoreContract}, on the <b>in-process fake</b>
 * of google-cloud-nio's {@code LocalStorageHelper}, because no GCS server or emulator can run on
 * these machines (see {@code docs/backends.md}). The fake is an in-memory {@code StorageRpc}
 * behind the real SDK: the SDK's request building, resumable-upload channel, read channel and
 * paging code run for real, but nothing goes over a network and the fake is not GCS.
 *
 * <p>What the fake does NOT check, so passing here proves nothing about it:
 * <ul>
 *   <li>authentication and authorization (no credentials are involved at all), TLS, timeouts
 *       and retries (it never fails transiently);</li>
 *   <li>preconditions as GCS applies them: it checks {@code ifGenerationMatch=0} only when a
 *       resumable session opens, not when the upload finalizes;</li>
 *   <li>generations on reads: it ignores the generation a read asks for;</li>
 *   <li>checksums, ETags, metadata patching, buckets;</li>
 *   <li>concurrency: it is {@code @NotThreadSafe} (plain HashMaps) and keys resumable sessions by
 *       object name, so two concurrent uploads of one key corrupt each other;</li>
 *   <li>listing as GCS does it: it returns objects in hash order, not name order, and rejects
 *       {@code startOffset} ("Unknown option: START_OFF_SET").</li>
 * </ul>
 * The contract tests that depend on those are skipped here, each with an assumption message that
 * names the fake's limitation ({@link FakeLimitations}); the production code is not bent to the
 * fake. {@code GcsRealBucketContractTest} runs all of them against a real bucket when credentials
 * are given.
 */
@DisplayName("GCS store on the SDK's in-process fake (LocalStorageHelper), NOT a GCS server: none can run on these machines")
@ExtendWith(GcsInProcessFakeContractTest.FakeLimitations.class)
class GcsInProcessFakeContractTest extends BlobStoreContract {

    @Override
    protected BlobStore newStore() {
        // A small part size, so the 12 MiB large-blob test crosses several resumable chunks.
        GcsSettings settings = new GcsSettings("fake-bucket", Optional.empty(), Optional.empty(), Optional.empty(),
                new ParallelIo(2, ParallelIo.MIN_PART_SIZE, 64 * 1024), RemoteTimeouts.defaults(), Optional.empty());
        return GcsBlobStore.using(LocalStorageHelper.getOptions().getService(), settings);
    }

    @Test
    void isNamedGcs() {
        assertThat(store.backendName()).isEqualTo("gcs");
    }

    @Test
    void aKeyPrefixIsPrependedAndHiddenAgain() throws Exception {
        var storage = LocalStorageHelper.getOptions().getService();
        GcsBlobStore prefixed = GcsBlobStore.using(storage, GcsSettings.of("fake-bucket").withKeyPrefix("builderd/"));
        GcsBlobStore plain = GcsBlobStore.using(storage, GcsSettings.of("fake-bucket"));

        prefixed.put(BlobKey.of("a/b"), new java.io.ByteArrayInputStream(new byte[] {1, 2, 3}), 3, dev.builderd.storage.blob.WriteMode.CREATE_NEW);

        assertThat(storage.get("fake-bucket", "builderd/a/b")).isNotNull();
        assertThat(prefixed.stat(BlobKey.of("a/b"))).get().extracting(i -> i.size()).isEqualTo(3L);
        assertThat(keys(prefixed.list("", null))).containsExactly("a/b");
        assertThat(keys(plain.list("", null))).containsExactly("builderd/a/b");
        assertThat(prefixed.delete(BlobKey.of("a/b"))).isTrue();
    }

    @Test
    void chunkSizeIsThePartSizeRoundedToTheGranularityGcsRequires() {
        assertThat(GcsBlobStore.chunkSize(new ParallelIo(1, 16 << 20, 4096))).isEqualTo(16 << 20);
        assertThat(GcsBlobStore.chunkSize(new ParallelIo(1, (5 << 20) + 1000, 4096))).isEqualTo(5 << 20);
    }

    @Test
    void retriesAreBoundedJitteredAndTimed() {
        var retry = GcsBlobStore.retrySettings(new RemoteTimeouts(Duration.ofSeconds(2), Duration.ofSeconds(30), 4));

        assertThat(retry.getMaxAttempts()).isEqualTo(4);
        assertThat(retry.isJittered()).isTrue();
        assertThat(retry.getInitialRetryDelayDuration()).isEqualTo(Duration.ofMillis(250));
        assertThat(retry.getMaxRpcTimeoutDuration()).isEqualTo(Duration.ofSeconds(30));
        // 4 attempts of 30 s plus the delays 0.25 + 0.5 + 1 s.
        assertThat(retry.getTotalTimeoutDuration()).isEqualTo(Duration.ofMillis(121_750));
    }

    @Test
    void settingsNeverShowCredentialsAndRejectBadValues(@TempDir Path temp) throws Exception {
        Path key = Files.writeString(temp.resolve("sa.json"), "{\"type\":\"service_account\",\"private_key\":\"SECRET\"}");
        GcsSettings settings = new GcsSettings("my-bucket", Optional.of("proj"), Optional.of(key),
                Optional.of(URI.create("https://storage.googleapis.com")), ParallelIo.defaults(), RemoteTimeouts.defaults(),
                Optional.empty());

        assertThat(settings.toString()).doesNotContain("SECRET").contains("my-bucket");
        assertThatThrownBy(() -> GcsBlobStore.create(settings)).isInstanceOf(java.io.IOException.class)
                .hasMessageContaining(key.toString()).hasMessageNotContaining("SECRET");
        assertThatThrownBy(() -> GcsSettings.of("Bad_Bucket!")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("Bad_Bucket!");
        assertThatThrownBy(() -> GcsSettings.of("b-1").withKeyPrefix("/abs")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void aDeadEndpointFailsWithAnIOExceptionNamingTheKey() throws Exception {
        // The real HTTP client (not the fake), pointed at a port where nothing listens.
        GcsSettings settings = new GcsSettings("my-bucket", Optional.empty(), Optional.empty(),
                Optional.of(URI.create("http://127.0.0.1:9")), ParallelIo.defaults(),
                new RemoteTimeouts(Duration.ofSeconds(1), Duration.ofSeconds(2), 1), Optional.empty());
        try (GcsBlobStore dead = GcsBlobStore.create(settings)) {
            BlobKey key = BlobKey.of("dead/end");
            assertThatThrownBy(() -> dead.stat(key)).isInstanceOf(java.io.IOException.class).hasMessageContaining(key.value());
            assertThatThrownBy(() -> dead.put(key, new java.io.ByteArrayInputStream(new byte[10]), 10,
                    dev.builderd.storage.blob.WriteMode.CREATE_NEW))
                    .isInstanceOf(java.io.IOException.class).hasMessageContaining(key.value());
        }
    }

    @Test
    void aClientBuiltFromSettingsIsClosedWithTheStore() throws Exception {
        GcsSettings settings = new GcsSettings("my-bucket", Optional.empty(), Optional.empty(),
                Optional.of(URI.create("http://127.0.0.1:9")), ParallelIo.defaults(), RemoteTimeouts.defaults(), Optional.empty());
        try (GcsBlobStore built = GcsBlobStore.create(settings)) {
            assertThat(built.backendName()).isEqualTo("gcs");
        }
    }

    /**
     * Skips, with a message naming the fake's limitation, the contract cases that the fake
     * cannot run. Everything else of the contract runs unchanged.
     */
    static final class FakeLimitations implements InvocationInterceptor {

        private static final String UNORDERED =
                "the in-process fake lists objects in HashMap order, not in name order as GCS does";
        private static final String NO_START_OFFSET =
                "the in-process fake rejects the list option startOffset (\"Unknown option: START_OFF_SET\")";
        private static final String NOT_THREAD_SAFE =
                "the in-process fake is @NotThreadSafe (plain HashMaps, no locking), keys resumable sessions by object "
                        + "name and checks ifGenerationMatch=0 only when a session opens";
        private static final String RAW_NAME_IN_URL =
                "the in-process fake's mock HTTP transport puts the raw object name into the resumable upload URL and "
                        + "answers 404 for this name";

        private static final Map<String, String> WHOLE_METHODS = Map.of(
                "listIsInCodePointOrder", UNORDERED,
                "listReportsSizes", UNORDERED,
                "oddKeysListTogetherInOrder", UNORDERED + "; and " + RAW_NAME_IN_URL.replace("this name", "some of these names"),
                "listPagesWithStartAfter", NO_START_OFFSET,
                "emptyStoreListsNothing", NO_START_OFFSET,
                "ofConcurrentCreateNewPutsExactlyOneWins", NOT_THREAD_SAFE,
                "concurrentOverwritesNeverMixTwoBlobs", NOT_THREAD_SAFE,
                "concurrentPutsOfDifferentKeysAllLand", NOT_THREAD_SAFE + "; and " + UNORDERED);

        private static final Set<String> NAMES_THE_FAKE_REFUSES =
                Set.of(" leading and trailing ", "percent%20encoded%2Fslash", "star*?[glob]");

        @Override
        public void interceptTestMethod(Invocation<Void> invocation, ReflectiveInvocationContext<Method> call,
                ExtensionContext context) throws Throwable {
            run(invocation, call);
        }

        @Override
        public void interceptTestTemplateMethod(Invocation<Void> invocation, ReflectiveInvocationContext<Method> call,
                ExtensionContext context) throws Throwable {
            run(invocation, call);
        }

        private static void run(Invocation<Void> invocation, ReflectiveInvocationContext<Method> call) throws Throwable {
            String reason = reason(call.getExecutable().getName(), call.getArguments());
            if (reason != null) {
                invocation.skip();
                Assumptions.abort("not run on the fake: " + reason);
            }
            invocation.proceed();
        }

        private static String reason(String method, List<Object> args) {
            String whole = WHOLE_METHODS.get(method);
            if (whole != null) {
                return whole;
            }
            if (method.equals("listSelectsByPrefixAndStartAfter")) {
                if (((List<?>) args.get(2)).size() > 1) {
                    return UNORDERED;
                }
                if (args.get(1) != null) {
                    return NO_START_OFFSET;
                }
            }
            if (method.equals("oddButLegalKeysRoundTrip") && NAMES_THE_FAKE_REFUSES.contains(args.get(0))) {
                return RAW_NAME_IN_URL;
            }
            return null;
        }
    }

    /** The same contract with every blob encrypted: encryption at rest works on this backend. */
    @Nested
    class Encrypted extends EncryptedContract {
        @Override
        protected BlobStoreContract plain() {
            return GcsInProcessFakeContractTest.this;
        }
    }
}
